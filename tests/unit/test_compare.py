"""`bench compare`: overhead verdicts from finished runs, built here as real run directories (RunDirectory writes
their results.json) holding synthetic figures."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.profiles import OverheadMargins
from bench.results.rundir import RunDirectory
from bench.results.schema import Result, Threshold
from bench.workloads import BENCHMARKS, overhead_metrics

GPU = "NVIDIA H200"
TABLE_HEADER = "| metric | baseline | candidate | overhead | verdict |"


def rn50(scenario: str, metrics: dict[str, float], *, model: str = "resnet50", gpu: str = GPU,
         batch_size: int = 32, error: str | None = None, **config: object) -> Result:
    result = Result(
        benchmark="resnet50", scenario=scenario, profile="llama3.1-8b", metrics={"result_valid": 1.0, **metrics},
        thresholds={"result_valid": Threshold(">=", 1)}, error=error,
        config={"profile_model": model, "size": "smoke", "batch_size": batch_size, "rules": "smoke",
                "model": {"weights": "torchvision IMAGENET1K_V1", "random_weights": False}, **config},
        environment={"device": "cuda", "gpu": {"name": gpu, "count": 1, "driver": "570.1"}},
    )
    result.evaluate()
    return result


def write_run(root: Path, run_id: str, results: list[Result]) -> str:
    run = RunDirectory.create(root, {"profile": "llama3.1-8b"}, run_id=run_id)
    run.add_results(results)
    return run_id


def offline_runs(root: Path, prefix: str, n: int, level: float, noise: float, seed: int) -> list[str]:
    """n runs of resnet50 Offline around `level` samples/s with relative noise `noise`."""
    rng = random.Random(seed)
    return [write_run(root, f"{prefix}-{i}", [rn50("Offline", {"samples_per_s": level * (1 + rng.gauss(0, noise))})])
            for i in range(n)]


def compare(root: Path, baseline: list[str], candidate: list[str], *extra: str) -> int:
    return main(["compare", "--results-dir", str(root), "--baseline", *baseline, "--candidate", *candidate, *extra])


def table_rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = lines.index(TABLE_HEADER)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_a_ten_percent_slowdown_over_ten_repeats_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = offline_runs(tmp_path, "base", 10, 1000.0, 0.01, seed=1)
    candidate = offline_runs(tmp_path, "cand", 10, 900.0, 0.01, seed=2)
    assert compare(tmp_path, baseline, candidate) == 1
    out = capsys.readouterr().out
    [row] = table_rows(out)
    assert row[0] == "resnet50/Offline samples_per_s" and row[4] == "FAIL"
    assert row[1].endswith("(n=10)") and row[2].endswith("(n=10)")
    assert row[3].startswith(("-9.", "-10.", "-11.")) and "[" in row[3]  # (R − 1) with its interval
    assert "margin 5% → FAIL" in out and "candidate slower in" in out
    assert out.rstrip().endswith("**Overall: FAIL**")


def test_no_difference_with_small_noise_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = offline_runs(tmp_path, "base", 10, 1000.0, 0.01, seed=3)
    candidate = offline_runs(tmp_path, "cand", 10, 1000.0, 0.01, seed=4)
    assert compare(tmp_path, baseline, candidate) == 0
    out = capsys.readouterr().out
    assert [r[4] for r in table_rows(out)] == ["PASS"]
    assert "**Overall: PASS**" in out


def test_the_command_line_margin_overrides_the_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = offline_runs(tmp_path, "base", 10, 1000.0, 0.01, seed=1)
    candidate = offline_runs(tmp_path, "cand", 10, 900.0, 0.01, seed=2)
    assert compare(tmp_path, baseline, candidate, "--max-overhead", "15%") == 0
    assert "margin 15% → PASS" in capsys.readouterr().out


def test_one_run_per_side_gives_the_change_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One run per side has no interval for an overhead verdict: it is a change against the threshold instead."""
    write_run(tmp_path, "a", [rn50("Offline", {"samples_per_s": 1000.0})])
    write_run(tmp_path, "b", [rn50("Offline", {"samples_per_s": 900.0})])
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    [row] = [line.split() for line in out.splitlines() if line.startswith("resnet50")]
    assert row == ["resnet50", "Offline", "samples_per_s", "1,000.0", "900.0", "-10.0%", "regressed"]
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path), "--fail-on-regression"]) == 1


def test_a_latency_metric_is_a_shift_in_ms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(5)
    base = [write_run(tmp_path, f"base-{i}", [rn50("SingleStream", {"early_stopping_latency_ms":
                                                                    0.5 + rng.gauss(0, 0.005)})]) for i in range(10)]
    cand = [write_run(tmp_path, f"cand-{i}", [rn50("SingleStream", {"early_stopping_latency_ms":
                                                                    3.5 + rng.gauss(0, 0.005)})]) for i in range(10)]
    assert compare(tmp_path, base, cand) == 1
    [row] = table_rows(capsys.readouterr().out)
    assert row[0] == "resnet50/SingleStream early_stopping_latency_ms"
    assert row[1].endswith(" ms (n=10)") and row[3].startswith("+3.0") and row[3].count(" ms") == 3
    assert compare(tmp_path, base, cand, "--max-p99-delta", "5ms") == 0


def test_an_invalid_loadgen_run_makes_it_inconclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = offline_runs(tmp_path, "base", 10, 1000.0, 0.01, seed=3)
    candidate = offline_runs(tmp_path, "cand", 9, 1000.0, 0.01, seed=4)
    candidate.append(write_run(tmp_path, "cand-invalid", [rn50("Offline", {"samples_per_s": 1000.0,
                                                                           "result_valid": 0.0})]))
    assert compare(tmp_path, baseline, candidate) == 3
    out = capsys.readouterr().out
    assert [r[4] for r in table_rows(out)] == ["INCONCLUSIVE"]
    assert "invalid: candidate run cand-invalid: LoadGen called it INVALID (result_valid = 0)" in out
    assert "1 run(s) invalid or errored" in out


def test_an_errored_run_is_invalid_and_a_side_without_figures_has_no_numbers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = offline_runs(tmp_path, "base", 3, 1000.0, 0.01, seed=3)
    broken = write_run(tmp_path, "broken", [rn50("Offline", {}, error="workload process killed by SIGKILL")])
    assert compare(tmp_path, baseline, [broken]) == 3
    out = capsys.readouterr().out
    assert table_rows(out) == [["resnet50/Offline samples_per_s", "–", "–", "–", "INCONCLUSIVE"]]
    assert "no usable samples_per_s on the candidate side" in out
    assert "candidate run broken: errored: workload process killed by SIGKILL" in out


def test_runs_of_different_models_are_not_comparable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path, "a", [rn50("Offline", {"samples_per_s": 1000.0})])
    write_run(tmp_path, "b", [rn50("Offline", {"samples_per_s": 1000.0}, model="resnet101")])
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert line.startswith("bench: error: not comparable: model differs (A: resnet50, B: resnet101)")


@pytest.mark.parametrize(("other", "field", "a", "b"), [
    ({"batch_size": 64}, "batch_size", "32", "64"),
    ({"gpu": "NVIDIA H100 80GB HBM3"}, "gpu_model", GPU, "NVIDIA H100 80GB HBM3"),
], ids=["sizes", "gpu"])
def test_runs_of_different_sizes_or_gpus_are_not_comparable(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           other: dict, field: str, a: str, b: str) -> None:
    write_run(tmp_path, "a", [rn50("Offline", {"samples_per_s": 1000.0})])
    write_run(tmp_path, "b", [rn50("Offline", {"samples_per_s": 1000.0}, **other)])
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path)]) == 2
    assert f"not comparable: {field} differs (A: {a}, B: {b}) in resnet50/Offline" in one_error_line(capsys)


def test_a_benchmark_on_one_side_only_is_skipped_and_nothing_common_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path, "a", [rn50("Offline", {"samples_per_s": 1000.0}),
                              rn50("SingleStream", {"early_stopping_latency_ms": 0.5})])
    write_run(tmp_path, "b", [rn50("Offline", {"samples_per_s": 1000.0})])
    write_run(tmp_path, "c", [rn50("Server", {"samples_per_s": 1000.0, "latency_p99_ms": 3.0})])
    assert main(["compare", "a", "b", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert [line.split()[:3] for line in out.splitlines() if line.startswith("resnet50")] == [
        ["resnet50", "Offline", "samples_per_s"]]
    assert "- skipped: resnet50/SingleStream: only in the baseline" in out
    assert main(["compare", "b", "c", "--results-dir", str(tmp_path)]) == 2
    assert "not comparable: nothing in common (A: resnet50/Offline; B: resnet50/Server)" in one_error_line(capsys)


def test_an_unknown_run_names_the_results_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path, "a", [rn50("Offline", {"samples_per_s": 1000.0})])
    assert main(["compare", "a", "nope", "--results-dir", str(tmp_path)]) == 2
    assert f"no run 'nope' under {tmp_path}" in one_error_line(capsys)


def test_the_same_run_on_both_sides_needs_aa(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path, "a", [rn50("Offline", {"samples_per_s": 1000.0})])
    assert main(["compare", "a", "a", "--results-dir", str(tmp_path)]) == 2
    assert "run a is on both sides: a candidate identical to the baseline is allowed only with --aa" \
        in one_error_line(capsys)
    assert main(["compare", "a", str(tmp_path / "a"), "--results-dir", str(tmp_path), "--aa"]) == 0
    assert "+0.0%" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "expected"), [
    (["--max-overhead=-5%"], "--max-overhead '-5%' is negative"),
    (["--max-overhead", "five"], "--max-overhead 'five' is not a number"),
    (["--max-p99-delta=-2ms"], "--max-p99-delta '-2ms' is negative"),
    (["--max-p99-delta", "2s"], "--max-p99-delta '2s' is not a number of milliseconds"),
    (["--baseline", "a"], "give two runs (`bench compare BASELINE CANDIDATE`), a run against history"),
], ids=["negative-overhead", "malformed-overhead", "negative-delta", "malformed-delta", "one-side"])
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                               expected: str) -> None:
    write_run(tmp_path, "a", [rn50("Offline", {"samples_per_s": 1000.0})])
    write_run(tmp_path, "b", [rn50("Offline", {"samples_per_s": 1000.0})])
    runs = [] if "--baseline" in args else ["a", "b"]
    assert main(["compare", *runs, "--results-dir", str(tmp_path), *args]) == 2
    assert expected in one_error_line(capsys)


def test_the_json_holds_what_the_table_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = offline_runs(tmp_path, "base", 10, 1000.0, 0.01, seed=1)
    candidate = offline_runs(tmp_path, "cand", 10, 900.0, 0.01, seed=2)
    out_file = tmp_path / "cmp" / "comparison.json"
    assert compare(tmp_path, baseline, candidate, "--json", str(out_file)) == 1
    [row] = table_rows(capsys.readouterr().out)
    data = json.loads(out_file.read_text())
    assert json.loads(json.dumps(data)) == data
    assert data["verdict"] == "FAIL" and data["exit_code"] == 1
    assert data["baseline_runs"] == baseline and data["candidate_runs"] == candidate
    [metric] = data["metrics"]
    assert (metric["benchmark"], metric["scenario"], metric["metric"], metric["kind"]) == (
        "resnet50", "Offline", "samples_per_s", "throughput")
    numbers = metric["comparison"]
    assert numbers["verdict"] == row[4] == "FAIL"
    assert row[3] == (f"{(numbers['estimate'] - 1) * 100:+.1f}% [{(numbers['lower'] - 1) * 100:+.1f}%, "
                      f"{(numbers['upper'] - 1) * 100:+.1f}%]")
    assert numbers["baseline"]["n"] == numbers["candidate"]["n"] == 10
    assert numbers["margin"] == {"kind": "throughput", "max_overhead": 0.05, "max_delta_ms": None}


def test_every_declared_scenario_exists_and_speed_benchmarks_declare_metrics() -> None:
    for name, info in BENCHMARKS.items():
        for scenario, metrics in overhead_metrics(name).items():
            assert scenario in info.scenarios, (name, scenario)
            assert set(metrics.values()) <= {"throughput", "latency"}
    assert overhead_metrics("llm_throughput") == {"offline": {"output_tokens_per_s": "throughput"},
                                                  "single": {"latency_p99_ms": "latency"}}
    assert set(overhead_metrics("resnet50")) == set(BENCHMARKS["resnet50"].scenarios)
    assert overhead_metrics("mmlu_pro") == overhead_metrics("summarization") == {}


def test_profile_margins_apply_per_metric() -> None:
    margins = OverheadMargins(per_metric={"resnet50": {"Server": {"latency_p99_ms": 5.0}}})
    assert margins.margin("resnet50", "Server", "latency_p99_ms", "latency") == 5.0
    assert margins.margin("resnet50", "SingleStream", "early_stopping_latency_ms", "latency") == 2.0
    assert margins.margin("resnet50", "Server", "samples_per_s", "throughput") == 0.05
    with pytest.raises(ConfigError, match=r"overhead_margins.max_overhead must be a number ≥ 0, got -0.1"):
        OverheadMargins(max_overhead=-0.1)


def test_the_readme_shows_the_table_this_command_prints() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    title = "### Comparing repeated runs (`bench compare --baseline … --candidate …`)"
    section = readme.split(title, 1)[1].split("\n## ", 1)[0]
    assert TABLE_HEADER in section
    assert "`bench overhead` or `pytest -m overhead`" in section
    overhead = readme.split("## Is my runtime fast enough?", 1)[1].split("\n## ", 1)[0]
    assert TABLE_HEADER in overhead and "pytest -m overhead --candidate container" in overhead


def test_server_throughput_with_calibrated_targets_is_flagged(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    runs = {side: [write_run(tmp_path, f"{side}-{i}", [rn50("Server", {"samples_per_s": 500.0 + i,
                                                                      "latency_p99_ms": 3.0 + i / 100},
                                                             server_target_qps=0.0)]) for i in range(3)]
            for side in ("base", "cand")}
    assert compare(tmp_path, runs["base"], runs["cand"]) == 0
    out = capsys.readouterr().out
    assert [r[0] for r in table_rows(out)] == ["resnet50/Server samples_per_s", "resnet50/Server latency_p99_ms"]
    assert "- warning: resnet50/Server: server_target_qps = 0, so each run calibrated its own target" in out


def summarization(rouge_l: float) -> Result:
    result = Result(benchmark="summarization", scenario="offline", profile="llama3.1-8b",
                    metrics={"rouge_l": rouge_l, "rouge1": 0.4}, thresholds={"rouge_l": Threshold(">=", 0.15)},
                    config={"profile_model": "meta-llama/Llama-3.1-8B-Instruct", "size": "smoke"},
                    environment={"device": "cuda", "gpu": {"name": GPU, "count": 1}})
    result.evaluate()
    return result


def test_an_accuracy_score_that_moves_under_the_candidate_fails(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    same = [write_run(tmp_path, f"a{i}", [summarization(0.2512)]) for i in range(3)]
    held = [write_run(tmp_path, f"b{i}", [summarization(0.2512)]) for i in range(3)]
    moved = [write_run(tmp_path, f"c{i}", [summarization(0.2512 if i else 0.2498)]) for i in range(3)]
    assert compare(tmp_path, same, held) == 0
    out = capsys.readouterr().out
    assert "summarization/offline rouge_l: baseline 0.2512, 0.2512, 0.2512, candidate 0.2512, 0.2512, 0.2512; " \
           "difference of medians +0 — unchanged" in out
    assert compare(tmp_path, same, moved) == 1  # greedy decoding on one GPU type: any change is a change
    out = capsys.readouterr().out
    assert "CHANGED beyond the baseline's own spread" in out and "**Overall: FAIL**" in out
