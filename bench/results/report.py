"""The self-contained HTML report of one run: results/<run_id>/report.html.

A view of the run directory (STYLE.md: reports compute nothing the results do not already hold): the run header
(run.json, or what results.json and summary.md say when there is none), an MLPerf-style summary table, per benchmark
the charts a practitioner expects (LoadGen latency percentiles, throughput per batch size, LLM throughput, serving
latency against load), the overhead plots, trend charts over the history the store hands in, each result's config
and environment, links to the run's files, and the data itself as JSON in `<script id="report-data">`.

One file that works from file:// with no network: CSS inline, charts as inline SVG (bench/results/charts.py) or PNG
data: URIs, no script to run. Deterministic: the same run directory, history and changes give byte-identical HTML.
Secrets never reach the page: keys naming a token, password or secret are dropped and URLs lose their `user:pw@`
(the embedded JSON too, which otherwise is results.json as written).

The store (written elsewhere) calls `render_report` / `write_report` with `history` and `changes`; nothing here
imports a database.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.errors import BenchError
from bench.results.redact import json_safe, redact
from bench.results.rundir import atomic_write
from bench.results.schema import Threshold

REPORT_NAME = "report.html"
KEY_METRICS_MAX = 4  # a result's key metrics: its gated metrics, at most this many, validity flags left out
TRENDS_MAX = 6  # trend charts per result: its key metrics first, then what else the history holds for it
VALIDITY_METRICS = ("result_valid", "valid", "points_invalid")  # shown in the validity column, not as key metrics
HEADER_ORDER = ("profile", "executor", "engine", "engine_args", "device", "model", "weights", "server", "endpoint",
                "size", "variant", "repeat")
PERCENTILES = (("p50", "latency_p50_ms"), ("p90", "latency_p90_ms"), ("p95", "latency_p95_ms"),
               ("p99", "latency_p99_ms"))
THROUGHPUT = (("output tok/s", "output_tokens_per_s"), ("total tok/s", "total_tokens_per_s"),
              ("samples/s", "samples_per_s"))
LOADGEN_SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
_BATCH = re.compile(r"^samples_per_s_b(\d+)$")
STATUS_MARK = {"PASS": "✓ PASS", "FAIL": "✗ FAIL", "ERROR": "⚠ ERROR"}

History = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]
Changes = Mapping[str, Mapping[str, Mapping[str, Any]]]


def render_report(run_path: Path, history: History | None = None, changes: Changes | None = None) -> str:
    """The report of the run directory `run_path` as one HTML string.

    `history`: result key (`benchmark/scenario`, `@variant` appended for a variant's result) → metric → points
    `{"run_id", "started_at", "value", "valid"}` oldest first, this run last; one trend chart per metric with a
    point, the result's key metrics (`key_metrics`) first, then the others the history holds for it in its order.
    `changes`: result key → metric → `{"baseline", "candidate", "change_pct", "verdict"}` (improved | regressed |
    unchanged | not comparable, or whatever the caller says); the summary shows the change of the first key metric
    that has one, and marks the row `regressed` when any metric of it regressed.
    """
    run = load_run(Path(run_path))
    history = _by_key(_sanitize(history)) if history else None
    changes = _by_key(_sanitize(changes)) if changes else None
    body = [
        _header(run),
        _summary(run, changes or {}),
        _charts_section(run),
        _history_section(run, history or {}),
        _results_section(run),
        _files_section(run),
    ]
    data = {"run": run.info, "results": run.results, "history": history, "changes": changes}
    return _page(run.run_id, [part for part in body if part], _json_script(data))


def write_report(run_path: Path, history: History | None = None, changes: Changes | None = None) -> Path:
    """Write the report into the run directory (atomically: a reader never sees half a file); returns its path."""
    path = Path(run_path) / REPORT_NAME
    atomic_write(path, render_report(run_path, history, changes))
    return path


# --- the run directory ----------------------------------------------------------------------------------------------


@dataclass
class RunView:
    """What the report shows of a run directory, secrets already removed."""

    path: Path
    run_id: str
    info: dict[str, Any]  # run.json, or the same shape derived from results.json and summary.md
    results: list[dict[str, Any]]  # results.json as written (less secrets; non-finite numbers become null)
    from_run_json: bool
    problems: list[str] = field(default_factory=list)

    @property
    def header(self) -> dict[str, Any]:
        header = self.info.get("header")
        return header if isinstance(header, dict) else {}


def load_run(path: Path) -> RunView:
    try:
        raw = json.loads((path / "results.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(f"{path} holds no results.json: not a run directory (results/<run_id>/)") from None
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path / 'results.json'} is not valid JSON ({exc}): the harness replaces it atomically, "
                         "so something else wrote or edited it — restore it from the run's copy") from None
    if not isinstance(raw, list):
        raise BenchError(f"{path / 'results.json'} holds a {type(raw).__name__}, not a list of results")
    results = [r for r in _sanitize(raw) if isinstance(r, dict)]
    problems = []
    info: dict[str, Any] | None = None
    run_json = path / "run.json"
    if run_json.is_file():
        try:
            loaded = json.loads(run_json.read_text(encoding="utf-8"))
            info = _sanitize(loaded) if isinstance(loaded, dict) else None
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"run.json could not be read ({exc}): the header comes from results.json and summary.md")
    from_run_json = info is not None
    if info is None:
        info = _derived_info(path, results)
    run_id = str(info.get("run_id") or path.resolve().name)
    return RunView(path, run_id, info, results, from_run_json, problems)


def _derived_info(path: Path, results: list[dict[str, Any]]) -> dict[str, Any]:
    """run.json's shape from what an older run directory holds: results.json's times and summary.md's header."""
    started = sorted(str(r["started_at"]) for r in results if r.get("started_at"))
    envs = [r.get("environment") or {} for r in results]
    versions = next((e["versions"] for e in envs if isinstance(e.get("versions"), dict)), {})
    k8s = next((e["kubernetes"] for e in envs if isinstance(e.get("kubernetes"), dict)), {})
    return {"run_id": path.resolve().name, "started_at": started[0] if started else None, "finished_at": None,
            "trigger": None, "git": {"commit": None, "dirty": None}, "harness_version": versions.get("kcloud-mlperf"),
            "cluster": None, "kubernetes_version": k8s.get("version"), "tags": {},
            "header": _sanitize(_summary_header(path / "summary.md"))}


def _summary_header(path: Path) -> dict[str, Any]:
    """summary.md's `- **key**: value` lines above its results (bench/results/summary.py writes them)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    header: dict[str, Any] = {}
    for line in lines[1:]:
        if line.startswith(("**", "|", "#", "_")):
            break
        found = re.match(r"- \*\*([^*]+)\*\*: (.*)$", line)
        if not found:
            continue
        key, value = found.groups()
        if key == "note":
            header.setdefault("notes", []).append(value)
        elif key != "run_id":
            header[key] = value
    return header


# --- secrets and JSON -------------------------------------------------------------------------------------------------


def _sanitize(value: Any) -> Any:
    """A JSON-safe copy without secrets (bench/results/redact.py: secret keys and URL passwords masked, NaN/±inf as
    null, which JSON.parse refuses)."""
    return json_safe(redact(value))


def _by_key(value: Mapping[str, Any]) -> dict[str, Any]:
    """History and changes with their result keys sorted (that order means nothing); the metrics under a key keep
    the caller's order (the store lists them by importance)."""
    return {k: value[k] for k in sorted(value)}


def _json_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c")  # no `</script>` nor `<!--` can end or confuse the script element
    return f'<script type="application/json" id="report-data">{text}</script>'


# --- what a result says -----------------------------------------------------------------------------------------------


def result_key(result: Mapping[str, Any]) -> str:
    """`benchmark/scenario`, `@variant` appended for a variant's result (the store's history key)."""
    key = f"{result.get('benchmark')}/{result.get('scenario')}"
    return f"{key}@{result['variant']}" if result.get("variant") else key


def _instance(result: Mapping[str, Any]) -> str:
    """The result key, `#repeat` appended for one repeat of an overhead run's side (several share a key)."""
    return result_key(result) + (f"#{result['repeat']}" if result.get("repeat") else "")


def _anchor(result: Mapping[str, Any]) -> str:
    return "result-" + re.sub(r"[^A-Za-z0-9_-]+", "-", _instance(result)).strip("-")


def status(result: Mapping[str, Any]) -> str:
    if result.get("error"):
        return "ERROR"
    return "PASS" if result.get("passed") else "FAIL"


def key_metrics(result: Mapping[str, Any]) -> list[str]:
    """The gated metrics, in the order the result lists its thresholds, validity flags left out."""
    names = [m for m in (result.get("thresholds") or {}) if m not in VALIDITY_METRICS]
    return names[:KEY_METRICS_MAX]


def unit(metric: str) -> str:
    """The unit a metric's name says: `_ms` ms, `tokens_per_s` tok/s, `samples_per_s` samples/s, `_per_s` /s,
    accuracy and ROUGE scores, `_pct` %."""
    name = re.sub(r"_b\d+$", "", metric.lower())
    if name.endswith("_ms"):
        return "ms"
    if "tokens_per_s" in name:
        return "tok/s"
    if "samples_per_s" in name:
        return "samples/s"
    if name.endswith("_pct"):
        return "%"
    if name.endswith("_per_s") or name.startswith("qps"):
        return "/s"
    if name in ("request_throughput", "goodput_rps") or name.endswith("_rate") or name.endswith("_rate_within_slo"):
        return "req/s"
    if name.startswith(("accuracy", "rouge", "f1", "exact_match")):
        return "score"
    if name.endswith("_s"):
        return "s"
    return ""


def validity(metrics: Mapping[str, Any]) -> tuple[str, str]:
    """(text, CSS class): LoadGen's `result_valid`, the serving benchmark's `points_invalid`, else –."""
    valid = metrics.get("result_valid")
    if isinstance(valid, int | float):
        return ("VALID", "valid") if valid == 1 else ("INVALID", "invalid")
    invalid = metrics.get("points_invalid")
    if isinstance(invalid, int | float):
        if invalid > 0:
            return f"{invalid:g} invalid point{'s' if invalid != 1 else ''}", "invalid"
        return "VALID", "valid"
    return "–", ""


def gates(result: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """Each threshold as (`metric op value`, holds); a metric not measured fails its gate."""
    metrics = result.get("metrics") or {}
    out = []
    for name, gate in (result.get("thresholds") or {}).items():
        op, value = gate.get("op"), gate.get("value")
        measured = metrics.get(name)
        try:
            holds = isinstance(measured, int | float) and Threshold(str(op), float(value)).holds(float(measured))
        except (TypeError, ValueError):
            holds = False
        text = f"{name} {op} {value:g}" if isinstance(value, int | float) else f"{name} {op} {value}"
        out.append((text if measured is not None else f"{text} (not measured)", holds))
    return out


def fmt(value: Any) -> str:
    """A metric value for a table cell: 9081.51, 37.39, 0.007595, 4096."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "–" if value is None else str(value)
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}"
    if abs(value) >= 100:
        return f"{value:.2f}"
    return f"{value:.4g}"


# --- page parts ------------------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _hardware(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """The machines the results ran on, from their environment: GPU model, count, memory, driver, CUDA; else the
    CPU."""
    seen: list[str] = []
    for r in results:
        env = r.get("environment") or {}
        gpu = env.get("gpu")
        if isinstance(gpu, dict) and gpu.get("name"):
            parts = [f"{gpu.get('count', 1)}× {gpu['name']}"]
            if isinstance(gpu.get("memory_mib"), int | float):
                parts.append(f"{gpu['memory_mib']:g} MiB")
            if gpu.get("driver"):
                parts.append(f"driver {gpu['driver']}")
            if gpu.get("cuda"):
                parts.append(f"CUDA {gpu['cuda']}")
            text = "GPU: " + ", ".join(parts)
        elif env.get("cpu"):
            text = f"CPU: {env['cpu']}"
            if env.get("cpu_count"):
                text += f" ({env['cpu_count']} cores)"
            if env.get("memory_gib"):
                text += f", {env['memory_gib']} GiB memory"
        else:
            continue
        node = (env.get("kubernetes") or {}).get("node") if isinstance(env.get("kubernetes"), dict) else None
        if node:
            text += f" on node {node}"
        if env.get("host") and not node:
            text += f" (host {env['host']})"
        if text not in seen:
            seen.append(text)
    return seen


def _common_notes(run: RunView) -> list[str]:
    """Notes every result carries (the profile's), plus the header's: shown once, above the table."""
    notes = [str(n) for n in (run.header.get("notes") or [])]
    if len(run.results) >= 2:
        first = [str(n) for n in (run.results[0].get("notes") or [])]
        for note in first:
            if all(note in (r.get("notes") or []) for r in run.results[1:]) and note not in notes:
                notes.append(note)
    return notes


def _header(run: RunView) -> str:
    info = run.info
    rows: list[tuple[str, str]] = [("run id", f"<code>{_e(run.run_id)}</code>")]
    times = [f"started {_e(info['started_at'])}" if info.get("started_at") else "",
             f"finished {_e(info['finished_at'])}" if info.get("finished_at") else ""]
    rows.append(("time", " · ".join(t for t in times if t) or "–"))
    git = info.get("git") if isinstance(info.get("git"), dict) else {}
    if git.get("commit"):
        dirty = {True: " (dirty: uncommitted changes)", False: " (clean)"}.get(git.get("dirty"), "")
        rows.append(("commit", f"<code>{_e(git['commit'])}</code>{_e(dirty)}"))
    else:
        rows.append(("commit", "–"))
    rows.append(("trigger", _e(info.get("trigger") or "–")))
    for label, key in (("harness version", "harness_version"), ("cluster", "cluster"),
                       ("kubernetes", "kubernetes_version")):
        if info.get(key):
            rows.append((label, _e(info[key])))
    tags = info.get("tags") if isinstance(info.get("tags"), dict) else {}
    if tags:
        rows.append(("tags", _e(", ".join(f"{k}={_text(tags[k])}" for k in sorted(tags)))))
    header = run.header
    keys = [k for k in HEADER_ORDER if k in header] + sorted(k for k in header if k not in HEADER_ORDER
                                                                  and k not in ("run_id", "notes"))
    rows += [(k, _e(_text(header[k]))) for k in keys if header[k] not in (None, "", [])]
    hardware = _hardware(run.results)
    rows.append(("hardware", "<br>".join(_e(h) for h in hardware) or "–"))
    out = [f"<header><h1>kcloud-mlperf run <code>{_e(run.run_id)}</code></h1>", '<dl class="run">']
    out += [f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows]
    out.append("</dl>")
    if not run.from_run_json:
        out.append('<p class="muted">No run.json in this run directory: the header comes from results.json and '
                   "summary.md.</p>")
    out += [f'<p class="problem">{_e(p)}</p>' for p in run.problems]
    notes = _common_notes(run)
    if notes:
        out.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    out.append("</header>")
    return "\n".join(out)


def _change_cell(result: Mapping[str, Any], changes: Changes) -> tuple[str, bool]:
    """(the cell's HTML, whether any metric of the result regressed)."""
    mine = {m: c for m, c in (changes.get(result_key(result)) or {}).items() if isinstance(c, Mapping)}
    regressed = [m for m, c in mine.items() if c.get("verdict") == "regressed"]
    # the metric the result column shows first, then the other key metrics, then the caller's order
    shown = next((m for m in [*key_metrics(result), *mine] if m in mine), None)
    parts = []
    if shown is not None:
        c = mine[shown]
        verdict = str(c.get("verdict") or "")
        pct = c.get("change_pct")
        value = f"{pct:+.1f} %" if isinstance(pct, int | float) else "–"
        arrow = {"regressed": "▼ ", "improved": "▲ "}.get(verdict, "")
        title = f"{shown}: baseline {fmt(c.get('baseline'))} → this run {fmt(c.get('candidate'))}"
        parts.append(f'<span class="change {_e(_slug(verdict))}" title="{_e(title)}">{_e(arrow + value)} '
                     f"<small>{_e(verdict)}</small></span>")
    else:
        parts.append("–")
    others = [m for m in regressed if m != shown]
    if others:
        parts.append(f'<div class="change regressed"><small>regressed: {_e(", ".join(others))}</small></div>')
    return "".join(parts), bool(regressed)


def _summary(run: RunView, changes: Changes) -> str:
    counts = {s: sum(status(r) == s for r in run.results) for s in ("PASS", "FAIL", "ERROR")}
    invalid = sum(validity(r.get("metrics") or {})[1] == "invalid" for r in run.results)
    line = f"{len(run.results)} results: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if invalid:
        line += f" · {invalid} with invalid measurements"
    out = ['<section id="summary-section"><h2>Summary</h2>',
           f'<p class="counts">{_e(line if run.results else "No results in results.json.")}</p>',
           '<div class="table-wrap"><table id="summary"><thead><tr><th>benchmark</th><th>scenario</th>'
           "<th>variant</th><th>result</th>"
           "<th>unit</th><th>validity</th><th>gates</th><th>status</th><th>change vs baseline</th>"
           "<th>duration</th></tr></thead><tbody>"]
    for r in run.results:
        st = status(r)
        metrics = r.get("metrics") or {}
        first = next(iter(key_metrics(r)), None)
        valid_text, valid_class = validity(metrics)
        change, regressed = _change_cell(r, changes)
        classes = [st.lower()] + (["invalid"] if valid_class == "invalid" else []) + (["regressed"] if regressed
                                                                                           else [])
        if first is not None:
            value = metrics.get(first)
            result_cell = (f'<span class="value" data-metric="{_e(first)}">{_e(fmt(value))}</span>'
                           f'<br><small class="metric">{_e(first)}</small>')
            unit_cell = _e(unit(first) or "–")
        else:
            result_cell, unit_cell = "–", "–"
        gate_cell = " ".join(f'<span class="gate {"ok" if ok else "bad"}">{_e(text)} {"✓" if ok else "✗"}</span>'
                             for text, ok in gates(r)) or "–"
        status_cell = f'<span class="badge {st.lower()}">{_e(STATUS_MARK[st])}</span>'
        if r.get("error"):
            status_cell += f'<div class="error-text">{_e(r["error"])}</div>'
        key = result_key(r)
        duration = r.get("duration_s")
        variant = (r.get("variant") or "–") + (f" #{r['repeat']}" if r.get("repeat") else "")
        out.append(
            f'<tr class="{" ".join(classes)}" data-key="{_e(key)}" data-status="{st}">'
            f'<td><a href="#{_e(_anchor(r))}">{_e(r.get("benchmark"))}</a></td><td>{_e(r.get("scenario"))}'
            f"</td><td>{_e(variant)}</td>"
            f'<td class="result">{result_cell}</td><td>{unit_cell}</td>'
            f'<td class="validity {valid_class}">{_e(valid_text)}</td><td class="gates">{gate_cell}</td>'
            f'<td class="status">{status_cell}</td><td class="change-cell">{change}</td>'
            f'<td class="num">{_e(f"{duration:.1f} s" if isinstance(duration, int | float) else "–")}</td></tr>')
    out.append("</tbody></table></div></section>")
    return "\n".join(out)


# --- charts ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str  # data-chart: what it shows (`latency/resnet50`)
    caption: str
    body: str  # an <svg> or <img>


def _charts() -> Any:
    """bench.results.charts, or None without matplotlib (the report then says so and shows no chart)."""
    try:
        import matplotlib  # noqa: F401

        from bench.results import charts
    except ImportError:
        return None
    return charts


def _figure_html(fig: Figure) -> str:
    return (f'<figure class="chart" data-chart="{_e(fig.name)}" id="chart-{_e(_slug(fig.name))}">\n{fig.body}'
            f"<figcaption>{_e(fig.caption)}</figcaption></figure>")


def _label(result: Mapping[str, Any]) -> str:
    label = str(result.get("scenario"))
    if result.get("variant"):
        label += f"@{result['variant']}"
    if result.get("repeat"):
        label += f" #{result['repeat']}"
    return label


def _latency_figure(charts: Any, benchmark: str, results: Sequence[Mapping[str, Any]]) -> Figure | None:
    panels = []
    for r in results:
        m = r.get("metrics") or {}
        values = {label: m[name] for label, name in PERCENTILES if isinstance(m.get(name), int | float)}
        if values:
            title = _label(r) + (" (INVALID)" if validity(m)[0] == "INVALID" else "")
            panels.append((title, values))
    name = f"latency/{benchmark}"
    loadgen = any(r.get("scenario") in LOADGEN_SCENARIOS for r in results)
    svg = charts.bars(f"{benchmark}: {'LoadGen ' if loadgen else ''}latency percentiles", panels, "latency (ms)",
                      name)
    return Figure(name, f"{benchmark}: latency percentiles (p50/p90/p95/p99 where measured) per scenario, ms",
                  svg) if svg else None


def _throughput_figure(charts: Any, benchmark: str, results: Sequence[Mapping[str, Any]]) -> Figure | None:
    panels = []
    for label, metric in THROUGHPUT:
        values = {_label(r): (r.get("metrics") or {})[metric] for r in results
                  if isinstance((r.get("metrics") or {}).get(metric), int | float)}
        if values:
            panels.append((label, values))
    name = f"throughput/{benchmark}"
    svg = charts.bars(f"{benchmark}: throughput per scenario", panels, "per second", name)
    return Figure(name, f"{benchmark}: throughput per scenario ({', '.join(p[0] for p in panels)})",
                  svg) if svg else None


def _batch_figure(charts: Any, result: Mapping[str, Any]) -> Figure | None:
    m = result.get("metrics") or {}
    sizes = sorted(int(found.group(1)) for name in m if (found := _BATCH.match(name)))
    if not sizes:
        return None
    throughput = {f"b{b}": m[f"samples_per_s_b{b}"] for b in sizes}
    invalid = [f"b{b}" for b in sizes if m.get(f"result_valid_b{b}") == 0]
    panels = [("samples/s by batch size", throughput)]
    latency = {f"b{b}": m[f"latency_p99_ms_b{b}"] for b in sizes if isinstance(m.get(f"latency_p99_ms_b{b}"),
                                                                                   int | float)}
    if latency:
        panels.append(("p99 latency (ms) by batch size", latency))
    key = result_key(result)
    name = f"batch/{_instance(result)}"
    svg = charts.bars(f"{key}: per batch size", panels, "", name, flagged={p[0]: invalid for p in panels})
    return Figure(name, f"{key}: throughput (and p99 latency) per batch size; red = LoadGen INVALID",
                  svg) if svg else None


def serving_points(result: Mapping[str, Any]) -> list[tuple[str, float, bool]]:
    """The load points of a serving result: (label, x, valid) with x the concurrency level (closed loop) or the
    achieved rate (open loop), in the order the result ran them. From `config.points` where present, else from the
    point-prefixed metrics (`r4_ttft_p99_ms`)."""
    m = result.get("metrics") or {}
    config = result.get("config") or {}
    listed = config.get("points") if isinstance(config.get("points"), list) else []
    labels = [str(p["label"]) for p in listed if isinstance(p, dict) and p.get("label")]
    by_label = {str(p.get("label")): p for p in listed if isinstance(p, dict)}
    if not labels:
        labels = [name[: -len("_ttft_p99_ms")] for name in m
                  if name.endswith("_ttft_p99_ms") and name != "ttft_p99_ms" and not name.startswith("server")]
    out = []
    for label in labels:
        point = by_label.get(label, {})
        concurrency = point.get("concurrency")
        if concurrency is None and re.fullmatch(r"c\d+", label):
            concurrency = int(label[1:])
        x = concurrency if concurrency is not None else m.get(f"{label}_achieved_rate",
                                                              m.get(f"{label}_requested_rate"))
        if isinstance(x, int | float):
            out.append((label, float(x), m.get(f"{label}_valid") != 0))
    return out


def _serving_figure(charts: Any, result: Mapping[str, Any]) -> Figure | None:
    points = serving_points(result)
    if not points:
        return None
    m = result.get("metrics") or {}
    closed = all(re.fullmatch(r"c\d+", label) for label, _, _ in points)

    def curve(label: str, metric: str) -> Any:
        pts = [(x, m[f"{p}_{metric}"]) for p, x, _ in points if isinstance(m.get(f"{p}_{metric}"), int | float)]
        return charts.Curve(label, [p[0] for p in pts], [p[1] for p in pts])

    panels = [("TTFT (ms)", [curve("p99", "ttft_p99_ms"), curve("median", "ttft_median_ms")]),
              ("TPOT (ms)", [curve("p99", "tpot_p99_ms"), curve("median", "tpot_median_ms")]),
              ("output tok/s", [curve("output tok/s", "output_tokens_per_s")])]
    key = result_key(result)
    name = f"serving/{_instance(result)}"
    xlabel = "concurrency (requests in flight)" if closed else "achieved rate (req/s)"
    svg = charts.curves(f"{key}: latency and throughput per load point ({len(points)} point"
                        f"{'s' if len(points) != 1 else ''})", xlabel, panels, name,
                        invalid_x=[x for _, x, ok in points if not ok])
    labels = ", ".join(label for label, _, _ in points)
    return Figure(name, f"{key}: TTFT and TPOT (p99, median) and output throughput vs {xlabel}; points {labels}",
                  svg) if svg else None


def _overhead_figures(charts: Any, run: RunView) -> list[Figure]:
    """The overhead run's plots (overhead_report.py's PNGs, as data: URIs), or — without them — each repeat's values
    drawn from overhead.json."""
    figures = []
    for png in sorted(run.path.glob("overhead-*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        benchmark = png.stem[len("overhead-"):]
        figures.append(Figure(f"overhead/{benchmark}", f"{benchmark}: overhead repeats and estimate ({png.name})",
                              f'<img src="data:image/png;base64,{data}" alt="{_e(png.name)}">'))
    if figures or charts is None:
        return figures
    try:
        overhead = json.loads((run.path / "overhead.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    series: dict[str, dict[str, dict[str, list[tuple[float, float]]]]] = {}
    for group in overhead.get("groups") or []:
        for rep in group.get("repeats") or []:
            if rep.get("interrupted"):
                continue
            side = f"{rep.get('side')} ({rep.get('variant')})" if rep.get("variant") else str(rep.get("side"))
            for key, values in (rep.get("values") or {}).items():
                for metric, value in (values or {}).items():
                    if isinstance(value, int | float) and isinstance(rep.get("order"), int | float):
                        panel = series.setdefault(key.split("/")[0], {}).setdefault(f"{key} {metric}", {})
                        panel.setdefault(side, []).append((float(rep["order"]), float(value)))
    for benchmark in sorted(series):
        name = f"overhead/{benchmark}"
        svg = charts.repeats(f"{benchmark}: overhead repeats by run order", list(series[benchmark].items()), name)
        if svg:
            figures.append(Figure(name, f"{benchmark}: each repeat's value per side, in run order (overhead.json)",
                                  svg))
    return figures


def _charts_section(run: RunView) -> str:
    charts = _charts()
    if charts is None:
        return ('<section id="charts"><h2>Charts</h2><p class="muted">matplotlib is not installed: no charts '
                "(pip install matplotlib, or the suite extra).</p></section>")
    by_benchmark: dict[str, list[dict[str, Any]]] = {}
    for r in run.results:
        if not r.get("error"):
            by_benchmark.setdefault(str(r.get("benchmark")), []).append(r)
    out = []
    for benchmark, results in by_benchmark.items():
        figures: list[Figure | None] = []
        servings = [r for r in results if serving_points(r)]
        others = [r for r in results if r not in servings]
        figures.append(_latency_figure(charts, benchmark, others))
        figures.append(_throughput_figure(charts, benchmark, others))
        figures += [_batch_figure(charts, r) for r in others]
        figures += [_serving_figure(charts, r) for r in servings]
        drawn = [f for f in figures if f is not None]
        if drawn:
            out.append(f'<section class="benchmark" id="charts-{_e(_slug(benchmark))}"><h3>{_e(benchmark)}</h3>')
            out += [_figure_html(f) for f in drawn]
            out.append("</section>")
    overhead = _overhead_figures(charts, run)
    if overhead:
        out.append('<section class="benchmark" id="charts-overhead"><h3>Overhead</h3>')
        out += [_figure_html(f) for f in overhead]
        out.append("</section>")
    if not out:
        return ""
    return "\n".join(['<section id="charts"><h2>Charts</h2>', *out, "</section>"])


def _history_section(run: RunView, history: History) -> str:
    charts = _charts()
    if charts is None or not history:
        return ""
    figures = []
    seen: set[str] = set()
    for r in run.results:
        key = result_key(r)
        if key in seen:
            continue
        seen.add(key)
        series = history.get(key) or {}
        for metric in [m for m in dict.fromkeys([*key_metrics(r), *series]) if m in series][:TRENDS_MAX]:
            raw = series.get(metric) or []
            points = [charts.TrendPoint(str(p.get("run_id", "")), str(p.get("started_at", "")), p["value"],
                                        bool(p.get("valid", True)))
                      for p in raw if isinstance(p, Mapping) and isinstance(p.get("value"), int | float)]
            if not points:
                continue
            name = f"trend/{key}/{metric}"
            u = unit(metric)
            svg = charts.trend(f"{key} {metric}", points, f"{metric}{f' ({u})' if u else ''}", name)
            if svg:
                figures.append(Figure(name, f"{key} {metric} over {len(points)} run{'s' if len(points) != 1 else ''}"
                                      " (this run last; dashed: median of the earlier valid runs)", svg))
    if not figures:
        return ""
    return "\n".join(['<section id="history"><h2>History</h2>', *(_figure_html(f) for f in figures), "</section>"])


# --- results and files -----------------------------------------------------------------------------------------------


def _pretty(value: Any) -> str:
    return _e(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


def _results_section(run: RunView) -> str:
    if not run.results:
        return ""
    common = set(_common_notes(run))
    out = ['<section id="results"><h2>Results</h2>']
    for r in run.results:
        key = result_key(r)
        st = status(r)
        metrics = r.get("metrics") or {}
        out.append(f'<article class="result {st.lower()}" id="{_e(_anchor(r))}" data-key="{_e(key)}">')
        out.append(f'<h3>{_e(key)} <span class="badge {st.lower()}">{_e(STATUS_MARK[st])}</span></h3>')
        facts = [f"profile {r.get('profile')}" if r.get("profile") else "",
                 f"started {r.get('started_at')}" if r.get("started_at") else "",
                 f"{r['duration_s']:.1f} s" if isinstance(r.get("duration_s"), int | float) else ""]
        out.append(f'<p class="muted">{_e(" · ".join(f for f in facts if f))}</p>')
        if r.get("error"):
            out.append(f'<p class="error-text">error: {_e(r["error"])}</p>')
        failed = [text for text, ok in gates(r) if not ok]
        if failed:
            out.append('<p class="error-text">gates not met: ' + _e("; ".join(failed)) + "</p>")
        notes = [str(n) for n in dict.fromkeys(r.get("notes") or []) if str(n) not in common]
        if notes:
            out.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
        if metrics:
            rows = "".join(f"<tr><td>{_e(k)}</td><td class=\"num\">{_e(fmt(v))}</td><td>{_e(unit(k))}</td></tr>"
                           for k, v in metrics.items())
            out.append(f"<details><summary>Metrics ({len(metrics)})</summary><table class=\"metrics\"><thead><tr>"
                       f"<th>metric</th><th>value</th><th>unit</th></tr></thead><tbody>{rows}</tbody></table>"
                       "</details>")
        out.append(f"<details><summary>Config</summary><pre>{_pretty(r.get('config') or {})}</pre></details>")
        out.append(f"<details><summary>Environment</summary><pre>{_pretty(r.get('environment') or {})}</pre>"
                   "</details>")
        out.append("</article>")
    out.append("</section>")
    return "\n".join(out)


def _files_section(run: RunView) -> str:
    names = [n for n in ("results.json", "run.json", "summary.md", "junit.xml", "overhead.json")
             if (run.path / n).is_file()]
    logs = sorted(p for p in (run.path / "logs").glob("*.log") if p.is_file()) if (run.path / "logs").is_dir() else []
    names += [f"logs/{p.name}" for p in logs]
    if not names:
        return ""
    items = "".join(f'<li><a href="{_e(quote(n, safe="/+"))}">{_e(n)}</a></li>' for n in names)
    return f'<section id="files"><h2>Files</h2><ul class="files">{items}</ul></section>'


CSS = """
:root { --pass: #1a7f37; --fail: #cf222e; --error: #8b0000; --invalid: #9a6700; --muted: #57606a;
  --line: #d0d7de; --bg-fail: #ffebe9; --bg-error: #ffd8d3; --bg-invalid: #fff8c5; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1400px;
  padding: 1rem 1.5rem 3rem; color: #1f2328; line-height: 1.4; font-size: 14px; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.8rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line);
  padding-bottom: 0.2rem; margin-top: 2rem; } h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
dl.run { display: grid; grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr);
  gap: 0.15rem 1rem; margin: 0; }
dl.run dt { color: var(--muted); } dl.run dd { margin: 0; }
.muted { color: var(--muted); } .problem { color: var(--fail); }
ul.notes { color: var(--muted); font-size: 12px; margin: 0.4rem 0; padding-left: 1.2rem; }
table { border-collapse: collapse; } th, td { border: 1px solid var(--line); padding: 0.3rem 0.5rem;
  vertical-align: top; text-align: left; } th { background: #f6f8fa; }
.table-wrap { overflow-x: auto; } #summary { width: 100%; } td.num { text-align: right; white-space: nowrap; }
td.result .value { font-weight: 600; font-variant-numeric: tabular-nums; } small.metric { color: var(--muted); }
tr.fail td { background: var(--bg-fail); } tr.error td { background: var(--bg-error); }
tr.fail td:first-child, tr.error td:first-child { box-shadow: inset 4px 0 0 var(--fail); }
tr.regressed td.change-cell { background: var(--bg-fail); }
.badge { display: inline-block; padding: 0 0.4rem; border-radius: 0.6rem; font-weight: 600; font-size: 12px;
  white-space: nowrap; color: #fff; } .badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.error { background: var(--error); }
.error-text { color: var(--error); font-size: 12px; white-space: pre-wrap; }
td.validity.valid { color: var(--pass); } td.validity.invalid { color: var(--invalid); background: var(--bg-invalid);
  font-weight: 600; }
td.gates { max-width: 26rem; } .gate { display: inline-block; white-space: nowrap; font-size: 12px;
  margin-right: 0.7rem; } .gate.bad { color: var(--fail); font-weight: 600; }
.change { white-space: nowrap; } .change small { display: block; }
.change.regressed { color: var(--fail); font-weight: 600; }
.change.improved { color: var(--pass); }
.change.not-comparable { color: var(--muted); }
figure.chart { margin: 0.6rem 0 1.2rem; } figure.chart svg, figure.chart img { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; }
article.result { border-top: 1px solid var(--line); padding-top: 0.2rem; }
article.result.fail h3, article.result.error h3 { color: var(--fail); }
details { margin: 0.3rem 0; } summary { cursor: pointer; color: #0969da; }
pre { background: #f6f8fa; padding: 0.6rem; overflow: auto; max-height: 30rem; border: 1px solid var(--line); }
table.metrics td { font-size: 12px; padding: 0.1rem 0.4rem; }
"""


def _page(run_id: str, parts: Sequence[str], data_script: str) -> str:
    head = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>kcloud-mlperf run {_e(run_id)}</title>\n<style>{CSS}</style>\n</head>\n<body>")
    return "\n".join([head, *parts, data_script, "</body>\n</html>\n"])
