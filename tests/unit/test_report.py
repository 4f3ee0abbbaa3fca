"""The HTML report of one run (bench/results/report.py), read the way a browser would parse it but without one:
the summary table, the charts, the embedded data, links, secrets, determinism. tests/browser/ opens it in Chromium.

The run directory is tests/fixtures/report_run (hand-written, in the shape of a real H200 run: resnet50 Offline
with per-batch metrics, an INVALID Server, SingleStream, llm_throughput offline/single, serving poisson with two
load points, one of them invalid, a FAILED mmlu_pro and an ERRORED summarization), copied per test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bench.errors import BenchError
from bench.results import report
from bench.results.redact import is_secret_key
from bench.results.report import (
    REPORT_NAME,
    render_report,
    result_key,
    serving_points,
    unit,
    write_report,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "report_run"
RUN_ID = "20260301-120000-ab12"
STATUS = {  # what the fixture's results are, as a reader of the table should see them
    "resnet50/Offline": "PASS", "resnet50/Server": "PASS", "resnet50/SingleStream": "PASS",
    "llm_throughput/offline": "PASS", "llm_throughput/single": "PASS", "serving/poisson": "PASS",
    "mmlu_pro/offline": "FAIL", "summarization/offline": "ERROR",
}
COLUMNS = ("benchmark", "scenario", "variant", "result", "unit", "validity", "gates", "status", "change", "duration")


class Page(HTMLParser):
    """What the tests look at: the title and h1, the summary table's rows (attributes and cell texts), the chart
    figures (attributes, whether they hold an svg or img, the svg's markup), every src/href, every id, the data."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.title = self.h1 = self.data = ""
        self.rows: list[dict[str, Any]] = []
        self.figures: list[dict[str, Any]] = []
        self.urls: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self._text: str | None = None
        self._summary = False
        self._row: dict[str, Any] | None = None
        self._cell: list[str] | None = None
        self._figure: dict[str, Any] | None = None
        self._script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.urls += [(k, a[k]) for k in ("src", "href", "xlink:href") if k in a]
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("title", "h1"):
            self._text = tag
        elif tag == "table" and a.get("id") == "summary":
            self._summary = True
        elif tag == "tr" and self._summary and "data-key" in a:
            self._row = {"attrs": a, "cells": []}
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "figure":
            self._figure = {"attrs": a, "content": set(), "svg_attrs": []}
        elif tag in ("svg", "img") and self._figure is not None:
            self._figure["content"].add(tag)
        elif tag == "script" and a.get("id") == "report-data":
            self._script = True
        if self._figure is not None:
            self._figure["svg_attrs"].append(" ".join(f"{k}={v}" for k, v in a.items()))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._text:
            self._text = None
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._summary = False
        elif tag == "figure" and self._figure is not None:
            self.figures.append(self._figure)
            self._figure = None
        elif tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._text:
            setattr(self, self._text, getattr(self, self._text) + data)
        if self._cell is not None:
            self._cell.append(data)
        if self._script:
            self.data += data

    def row(self, key: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["attrs"]["data-key"] == key)

    def cell(self, key: str, column: str) -> str:
        return self.row(key)["cells"][COLUMNS.index(column)]

    def charts(self) -> dict[str, dict[str, Any]]:
        return {f["attrs"]["data-chart"]: f for f in self.figures if "chart" in f["attrs"].get("class", "")}


def strict_json(text: str) -> Any:
    """json.loads as JSON.parse does it: NaN and Infinity are errors."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def copy_fixture(where: Path) -> Path:
    run_dir = where / RUN_ID
    shutil.copytree(FIXTURE, run_dir)
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return copy_fixture(tmp_path)


@pytest.fixture
def no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report as without matplotlib (faster, for tests about something other than charts)."""
    monkeypatch.setattr(report, "_charts", lambda: None)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Page]:
    """The fixture's report without history or changes, rendered once for the tests that only read it."""
    run_dir = copy_fixture(tmp_path_factory.mktemp("report"))
    text = render_report(run_dir)
    return run_dir, text, Page(text)


def results_of(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((run_dir / "results.json").read_text(encoding="utf-8"))


def test_summary_has_one_row_per_result_with_its_status(rendered: tuple[Path, str, Page]) -> None:
    run_dir, _, page = rendered
    assert [r["attrs"]["data-key"] for r in page.rows] == [result_key(r) for r in results_of(run_dir)]
    assert {r["attrs"]["data-key"]: r["attrs"]["data-status"] for r in page.rows} == STATUS
    for key, status in STATUS.items():
        assert status in page.cell(key, "status"), key
        assert status.lower() in page.row(key)["attrs"]["class"].split()


def test_failed_and_errored_rows_are_marked_with_their_reason(rendered: tuple[Path, str, Page]) -> None:
    _, _, page = rendered
    assert "✗ FAIL" in page.cell("mmlu_pro/offline", "status")
    assert "accuracy >= 0.35 ✗" in page.cell("mmlu_pro/offline", "gates")
    assert "extraction_failure_rate <= 0.1 ✓" in page.cell("mmlu_pro/offline", "gates")
    error = page.cell("summarization/offline", "status")
    assert "⚠ ERROR" in error and "CUDA out of memory" in error
    assert "rougeL >= 0.15 (not measured) ✗" in page.cell("summarization/offline", "gates")
    assert "✓ PASS" in page.cell("resnet50/Offline", "status")


def test_result_unit_and_validity_cells(rendered: tuple[Path, str, Page]) -> None:
    _, _, page = rendered
    assert page.cell("resnet50/Offline", "result").startswith("9081.51")
    assert page.cell("resnet50/Offline", "unit") == "samples/s"
    assert page.cell("resnet50/SingleStream", "result") == "0.97 latency_p90_ms"
    assert page.cell("resnet50/SingleStream", "unit") == "ms"
    assert page.cell("llm_throughput/offline", "unit") == "tok/s"
    assert page.cell("mmlu_pro/offline", "unit") == "score"
    assert page.cell("resnet50/Offline", "validity") == "VALID"
    assert page.cell("resnet50/Server", "validity") == "INVALID"
    assert "invalid" in page.row("resnet50/Server")["attrs"]["class"].split()
    assert page.cell("serving/poisson", "validity") == "1 invalid point"
    assert page.cell("llm_throughput/offline", "validity") == "–"
    assert page.cell("resnet50/Offline", "change") == "–"


def test_header_names_the_run_commit_trigger_and_hardware(rendered: tuple[Path, str, Page]) -> None:
    _, text, page = rendered
    assert RUN_ID in page.title and RUN_ID in page.h1
    assert "3f2c1d0e9b8a7f6e5d4c3b2a1908f7e6d5c4b3a2" in text and "dirty" in text
    assert "<dt>trigger</dt><dd>pytest</dd>" in text
    assert "<dt>profile</dt><dd>llama3.1-8b</dd>" in text
    assert "<dt>executor</dt><dd>kubernetes</dd>" in text
    assert "1× NVIDIA H200" in text and "driver 570.86.15" in text


def test_data_block_is_results_json_and_run_json(rendered: tuple[Path, str, Page]) -> None:
    run_dir, _, page = rendered
    data = strict_json(page.data)
    assert data["results"] == results_of(run_dir)
    assert data["run"] == json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert data["history"] is None and data["changes"] is None


def test_page_is_self_contained(rendered: tuple[Path, str, Page]) -> None:
    run_dir, text, page = rendered
    assert page.urls
    for attr, url in page.urls:
        assert not url.lower().startswith(("http:", "https:", "//", "ftp:")), (attr, url)
        if attr == "src":
            assert url.startswith("data:"), url
        elif url.startswith("#"):
            assert url[1:] in page.ids, url
        else:
            assert (run_dir / url.replace("%2B", "+")).is_file(), url
    assert {url for attr, url in page.urls if attr == "href" and not url.startswith("#")} == {
        "results.json", "run.json", "summary.md", "junit.xml", "logs/resnet50.log", "logs/serving.log"}
    # outside the data (the JSON block, config and environment text) no URL at all, not even SVG namespaces
    outside = re.sub(r"<script.*?</script>|<pre>.*?</pre>", "", text, flags=re.S)
    assert "http://" in text and "http://" not in outside and "https://" not in outside
    lowered = text.lower()
    assert "<link" not in lowered and "@import" not in lowered and "url(http" not in lowered
    assert "<script" in lowered and lowered.count("<script") == 1  # only the JSON data: nothing to run


def test_charts_a_practitioner_expects(rendered: tuple[Path, str, Page]) -> None:
    _, _, page = rendered
    charts = page.charts()
    assert set(charts) == {"latency/resnet50", "throughput/resnet50", "batch/resnet50/Offline",
                           "latency/llm_throughput", "throughput/llm_throughput", "serving/serving/poisson"}
    for name, figure in charts.items():
        assert figure["content"] & {"svg", "img"}, f"{name} is an empty figure"
    assert not any(name.startswith("trend/") for name in charts)  # no history given, no trend


def test_svg_ids_are_unique_across_charts(rendered: tuple[Path, str, Page]) -> None:
    _, text, page = rendered
    ids = [part.split('"', 1)[0] for part in text.split(' id="')[1:]]
    assert len(ids) == len(set(ids)) == len(page.ids)


def test_repeats_of_a_variant_get_their_own_rows_charts_and_anchors(run_dir: Path) -> None:
    results = results_of(run_dir)
    offline = results[0]
    repeats = [{**offline, "variant": "kata", "repeat": n} for n in (1, 2)]
    (run_dir / "results.json").write_text(json.dumps([offline, *repeats]), encoding="utf-8")
    text = render_report(run_dir)
    page = Page(text)
    assert [r["attrs"]["data-key"] for r in page.rows] == ["resnet50/Offline", "resnet50/Offline@kata",
                                                           "resnet50/Offline@kata"]
    assert page.cell("resnet50/Offline@kata", "variant") == "kata #1"
    assert {"batch/resnet50/Offline", "batch/resnet50/Offline@kata#1", "batch/resnet50/Offline@kata#2"} <= set(
        page.charts())
    ids = [part.split('"', 1)[0] for part in text.split(' id="')[1:]]
    assert len(ids) == len(set(ids))
    assert {url[1:] for attr, url in page.urls if url.startswith("#")} <= page.ids


def test_two_renders_are_byte_identical_across_processes(run_dir: Path) -> None:
    first = render_report(run_dir)
    assert render_report(run_dir) == first
    code = "import sys; from pathlib import Path; from bench.results.report import render_report; " \
           "sys.stdout.buffer.write(render_report(Path(sys.argv[1])).encode())"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, env=env, check=True)
    assert out.stdout.decode() == first


def test_write_report_writes_report_html_atomically(run_dir: Path, no_charts: None) -> None:
    path = write_report(run_dir)
    assert path == run_dir / REPORT_NAME
    assert path.read_text(encoding="utf-8") == render_report(run_dir)
    assert not list(run_dir.glob("*.tmp"))


def test_secrets_never_reach_the_page(run_dir: Path, no_charts: None) -> None:
    results = results_of(run_dir)
    results[3]["config"]["hf_token"] = "hf_abcSECRET123"
    results[3]["config"]["engine"]["api_key"] = "sk-SECRET456"
    results[0]["environment"] = {**results[0]["environment"], "store": "postgresql://u:pw-SECRET@h/db"}
    results[7]["error"] = "could not reach https://bob:hunter2-SECRET@registry.example/v2: timeout"
    (run_dir / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    run["header"]["endpoint"] = "https://admin:letmein-SECRET@vllm.example/v1"
    run["tags"]["GITHUB_TOKEN"] = "ghp_SECRET789"
    (run_dir / "run.json").write_text(json.dumps(run), encoding="utf-8")

    text = render_report(run_dir)

    assert "SECRET" not in text
    # masked, as everywhere (bench/results/redact.py): the rest of each URL stays
    assert "postgresql://u:***@h/db" in text and "https://admin:***@vllm.example/v1" in text
    assert "max_tokens" in text  # a count of tokens is not a secret
    expected = results_of(FIXTURE)
    expected[3]["config"]["hf_token"] = "***"
    expected[3]["config"]["engine"]["api_key"] = "***"
    expected[0]["environment"] = {**expected[0]["environment"], "store": "postgresql://u:***@h/db"}
    expected[7]["error"] = "could not reach https://bob:***@registry.example/v2: timeout"
    assert strict_json(Page(text).data)["results"] == expected


def test_history_draws_a_trend_per_key_metric_with_a_baseline(run_dir: Path) -> None:
    def points(values: list[float]) -> list[dict[str, Any]]:
        return [{"run_id": f"2026022{i}-120000-0000", "started_at": f"2026-02-2{i}T12:00:00+00:00", "value": v,
                 "valid": i != 1} for i, v in enumerate(values)]

    history = {
        # the store may follow more metrics than the gated ones: drawn after them, in the order given
        "resnet50/Offline": {"latency_p99_ms": points([420.0, 431.7]),
                             "samples_per_s": points([8900.0, 7000.0, 9010.2, 8950.0, 9081.51])},
        "resnet50/SingleStream": {"latency_p90_ms": points([0.99, 0.97])},  # one earlier point: no baseline
        "bert/Offline": {"samples_per_s": points([1.0, 2.0])},  # not in this run: no chart
        "resnet50/Server": {"samples_per_s": []},  # no point: no chart
    }
    text = render_report(run_dir, history=history)
    page = Page(text)
    assert [name for name in page.charts() if name.startswith("trend/")] == [
        "trend/resnet50/Offline/samples_per_s", "trend/resnet50/Offline/latency_p99_ms",
        "trend/resnet50/SingleStream/latency_p90_ms"]
    trends = {name: f for name, f in page.charts().items() if name.startswith("trend/")}
    assert all("svg" in f["content"] for f in trends.values())

    def dashed(name: str) -> bool:
        return any("stroke-dasharray" in attrs for attrs in trends[name]["svg_attrs"])

    assert dashed("trend/resnet50/Offline/samples_per_s")  # the baseline: median of the earlier valid runs
    assert not dashed("trend/resnet50/SingleStream/latency_p90_ms")
    assert strict_json(page.data)["history"] == {k: history[k] for k in sorted(history)}
    assert render_report(run_dir, history=history) == text


def test_changes_show_in_the_table_and_mark_regressions(run_dir: Path, no_charts: None) -> None:
    changes = {
        "llm_throughput/offline": {"output_tokens_per_s": {"baseline": 14500.0, "candidate": 12744.6,
                                                           "change_pct": -12.1, "verdict": "regressed"}},
        "resnet50/Offline": {"samples_per_s": {"baseline": 9100.0, "candidate": 9081.51, "change_pct": -0.2,
                                               "verdict": "unchanged"}},
        "resnet50/SingleStream": {"qps_with_loadgen_overhead": {"baseline": 1200.0, "candidate": 1052.3,
                                                                "change_pct": -12.3, "verdict": "regressed"},
                                  "latency_p90_ms": {"baseline": 0.97, "candidate": 0.97, "change_pct": 0.0,
                                                     "verdict": "unchanged"}},
        "serving/poisson": {"ttft_p99_ms": {"baseline": 40.0, "candidate": 88.9, "change_pct": 122.25,
                                            "verdict": "not comparable"}},
    }
    page = Page(render_report(run_dir, changes=changes))
    assert "regressed" in page.row("llm_throughput/offline")["attrs"]["class"].split()
    assert page.cell("llm_throughput/offline", "change") == "▼ -12.1 % regressed"
    assert "regressed" not in page.row("resnet50/Offline")["attrs"]["class"].split()
    assert page.cell("resnet50/Offline", "change") == "-0.2 % unchanged"
    # a regression on a metric other than the first key metric still marks the row
    assert "regressed" in page.row("resnet50/SingleStream")["attrs"]["class"].split()
    assert page.cell("resnet50/SingleStream", "change") == "+0.0 % unchanged regressed: qps_with_loadgen_overhead"
    assert page.cell("serving/poisson", "change") == "+122.2 % not comparable"
    assert page.cell("llm_throughput/single", "change") == "–"
    assert strict_json(page.data)["changes"]["llm_throughput/offline"] == changes["llm_throughput/offline"]


def test_without_run_json_the_header_comes_from_results_and_summary(run_dir: Path, no_charts: None) -> None:
    (run_dir / "run.json").unlink()
    text = render_report(run_dir)
    page = Page(text)
    assert RUN_ID in page.h1
    assert "No run.json" in text and "<dt>executor</dt><dd>kubernetes</dd>" in text
    run = strict_json(page.data)["run"]
    assert run["run_id"] == RUN_ID and run["started_at"] == "2026-03-01T12:00:05+00:00"
    assert run["header"]["profile"] == "llama3.1-8b"
    assert len(page.rows) == len(STATUS)


def test_unreadable_run_json_is_said_and_not_fatal(run_dir: Path, no_charts: None) -> None:
    (run_dir / "run.json").write_text('{"run_id": "20260301-1', encoding="utf-8")  # half written
    text = render_report(run_dir)
    assert "run.json could not be read" in text and len(Page(text).rows) == len(STATUS)
    assert "matplotlib is not installed" in text and not Page(text).charts()


def test_overhead_plots_are_embedded_as_data_uris(run_dir: Path) -> None:
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJ"
                           "RU5ErkJggg==")  # a 1×1 PNG
    (run_dir / "overhead-resnet50.png").write_bytes(png)
    (run_dir / "overhead.json").write_text("{}", encoding="utf-8")
    page = Page(render_report(run_dir))
    assert "img" in page.charts()["overhead/resnet50"]["content"]
    srcs = [url for attr, url in page.urls if attr == "src"]
    assert srcs == ["data:image/png;base64," + base64.b64encode(png).decode()]
    assert "overhead.json" in [url for attr, url in page.urls if attr == "href"]


def test_overhead_repeats_are_drawn_from_overhead_json_without_plots(run_dir: Path) -> None:
    repeats = [{"order": i + 1, "side": side, "variant": variant, "repeat": i // 2 + 1, "interrupted": False,
                "values": {"resnet50/Offline": {"samples_per_s": 9000.0 + 10 * i}}}
               for i, (side, variant) in enumerate([("baseline", "runc"), ("candidate", "kata")] * 2)]
    overhead = {"run_id": RUN_ID, "groups": [{"group": "resnet50", "tasks": ["resnet50/Offline"], "repeats": repeats}]}
    (run_dir / "overhead.json").write_text(json.dumps(overhead), encoding="utf-8")
    charts = Page(render_report(run_dir)).charts()
    assert "svg" in charts["overhead/resnet50"]["content"]


def test_script_data_cannot_end_the_script_element(run_dir: Path, no_charts: None) -> None:
    results = results_of(run_dir)
    results[0]["notes"].append("</script><script>alert(1)</script><!--")
    results[0]["metrics"]["latency_min_ms"] = float("nan")  # Python writes NaN; JSON.parse would refuse it
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    text = render_report(run_dir)
    assert text.count("</script>") == 1 and "<script>alert" not in text
    data = strict_json(Page(text).data)
    assert data["results"][0]["notes"][-1] == "</script><script>alert(1)</script><!--"
    assert data["results"][0]["metrics"]["latency_min_ms"] is None


def test_a_directory_without_results_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="not a run directory"):
        render_report(tmp_path)


def test_serving_points_come_from_prefixed_metrics_without_a_points_config() -> None:
    result = {"benchmark": "serving", "scenario": "concurrency", "config": {}, "metrics": {
        "ttft_p99_ms": 9.0, "c1_ttft_p99_ms": 5.0, "c1_valid": 1.0, "c4_ttft_p99_ms": 9.0, "c4_valid": 0.0,
        "server_ttft_mean_ms": 4.0}}
    assert serving_points(result) == [("c1", 1.0, True), ("c4", 4.0, False)]


@pytest.mark.parametrize(("metric", "expected"), [
    ("latency_p99_ms", "ms"), ("output_tokens_per_s", "tok/s"), ("total_tokens_per_s", "tok/s"),
    ("samples_per_s", "samples/s"), ("samples_per_s_b8", "samples/s"), ("requests_per_s", "/s"),
    ("qps_with_loadgen_overhead", "/s"), ("request_throughput", "req/s"), ("max_rate_within_slo", "req/s"),
    ("goodput_pct", "%"), ("accuracy", "score"), ("rougeL", "score"), ("elapsed_s", "s"), ("questions", ""),
])
def test_unit_follows_the_metric_name(metric: str, expected: str) -> None:
    assert unit(metric) == expected


@pytest.mark.parametrize(("key", "secret"), [
    ("hf_token", True), ("HF_TOKEN", True), ("accessToken", True), ("token", True), ("db_password", True),
    ("client_secret", True), ("api_key", True), ("max_tokens", False), ("tokenizer", False),
    ("num_prompt_tokens", False), ("output_tokens_per_s", False), ("endpoint", False),
])
def test_secret_keys(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret
