"""The result schema, thresholds, the run directory contract, summary.md and a suite test's failure message."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.metrics.latency import latency_summary, percentile
from bench.profiles import LLAMA31_8B, gate_notes
from bench.results.rundir import RunDirectory, load_results
from bench.results.schema import Result, Threshold
from bench.results.summary import render_summary
from tests.benchmarks.report import check_result


def make_result(**kwargs) -> Result:
    base = dict(
        benchmark="llm_throughput", scenario="offline", profile="tiny",
        metrics={"output_tokens_per_s": 10.0}, thresholds={"output_tokens_per_s": Threshold(">", 0)},
    )
    return Result(**{**base, **kwargs})


def test_result_round_trip_keeps_every_contract_field() -> None:
    result = make_result(config={"model": "m"}, environment={"device": "cpu"}, started_at="t", duration_s=1.5)
    result.evaluate()
    data = json.loads(json.dumps(result.to_dict()))
    for field in ("benchmark", "scenario", "profile", "metrics", "thresholds", "passed", "config", "environment",
                  "started_at", "duration_s", "error"):
        assert field in data
    assert data["thresholds"] == {"output_tokens_per_s": {"op": ">", "value": 0}}
    assert Result.from_dict(data) == result


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown result fields: bogus"):
        Result.from_dict({**make_result().to_dict(), "bogus": 1})


@pytest.mark.parametrize(
    ("op", "value", "measured", "holds"),
    [(">", 0, 0.0, False), (">", 0, 1e-9, True), (">=", 5, 5, True), ("<", 2, 2, False), ("<=", 2, 2, True),
     (">", 0, math.nan, False)],
)
def test_threshold_ops(op: str, value: float, measured: float, holds: bool) -> None:
    assert Threshold(op, value).holds(measured) is holds


def test_threshold_rejects_unknown_op() -> None:
    with pytest.raises(ValueError, match="threshold op must be one of"):
        Threshold("==", 1)


def test_evaluate_missing_metric_and_error() -> None:
    missing = make_result(metrics={})
    missing.evaluate()
    assert not missing.passed
    assert missing.failed_thresholds() == ["output_tokens_per_s was not measured (gate > 0)"]
    failing = make_result(metrics={"output_tokens_per_s": 0.0})
    failing.evaluate()
    assert failing.failed_thresholds() == ["output_tokens_per_s = 0, gate > 0"]
    errored = make_result(error="boom")
    errored.evaluate()
    assert not errored.passed


def test_failure_keeps_one_line() -> None:
    result = Result.failure("b", "s", "tiny", "first line\nsecond line")
    assert result.error == "first line" and not result.passed


def test_run_directory_layout_and_latest(tmp_path: Path) -> None:
    first = RunDirectory.create(tmp_path, {"profile": "tiny"}, run_id="run-1")
    second = RunDirectory.create(tmp_path, {"profile": "tiny", "notes": ["pipeline only"]}, run_id="run-2")
    assert (tmp_path / "latest").resolve() == second.path
    assert first.path.is_dir() and (first.path / "logs").is_dir() and (first.path / "manifests").is_dir()
    ok = make_result()
    ok.evaluate()
    bad = make_result(scenario="single", error="workload process killed by SIGKILL (out of memory?)")
    second.add_results([ok, bad])
    second.add_results([ok])  # replacing a result never duplicates it
    assert [r.key for r in load_results(second.path)] == ["llm_throughput/single", "llm_throughput/offline"]
    summary = (second.path / "summary.md").read_text()
    assert "**1/2 passed**" in summary
    assert "| llm_throughput | offline | PASS |" in summary
    assert "`llm_throughput/single`: workload process killed by SIGKILL" in summary
    assert "pipeline only" in summary


RUN_NOTE = "tiny profile: checks the pipeline (engine, executor, metrics, results), not model quality"
INVALID_BATCH = ("Offline: result_valid is 0 because LoadGen did not call batch size(s) 2 VALID (of 2, 8); "
                 "see result_valid_b<N> and the notes above")
SMOKE_RULES = "smoke rules: min_duration 1000 ms and min_query_count 64 instead of MLPerf's 600 s / rule counts"


def invalid_offline() -> Result:
    """A resnet50 Offline run with two batch sizes, one of them INVALID (bench/workloads/resnet50.py's notes)."""
    result = make_result(benchmark="resnet50", scenario="Offline", metrics={"result_valid": 0.0},
                         thresholds={"result_valid": Threshold(">=", 1)},
                         notes=[RUN_NOTE, "Offline_b2: LoadGen says INVALID: min queries not met", INVALID_BATCH,
                                SMOKE_RULES])
    result.evaluate()
    return result


[NO_FLOOR] = gate_notes(LLAMA31_8B.threshold_table("llm_throughput", "offline"), "Tesla T4", "llm_throughput",
                        "offline")


def unfloored_throughput() -> Result:
    """llm_throughput on a GPU type without a regression floor: it passes, and its note says no floor applied."""
    result = make_result(notes=[RUN_NOTE, NO_FLOOR, "0 requests did not produce exactly output_len tokens"])
    result.evaluate()
    return result


def test_summary_notes_explain_failures_and_gates_not_applied() -> None:
    errored = make_result(scenario="single", error="workload process exited 1", notes=[RUN_NOTE, "engine log: OOM"])
    errored.evaluate()
    fine = make_result(scenario="server", notes=[RUN_NOTE, "a note of a passing result"])
    fine.evaluate()
    summary = render_summary({"profile": "tiny", "notes": [RUN_NOTE]},
                             [invalid_offline(), unfloored_throughput(), errored, fine])
    table, notes = summary.split("\n## Notes\n")
    assert "| resnet50 | Offline | FAIL |" in table and "result_valid = 0, gate >= 1" in table
    assert "## Environment" not in table
    assert notes.split("\n\n## ")[0].strip().splitlines() == [
        "- `resnet50/Offline`:",
        "  - Offline_b2: LoadGen says INVALID: min queries not met",
        f"  - {INVALID_BATCH}",
        f"  - {SMOKE_RULES}",
        "- `llm_throughput/offline`:",  # passed: only the note that its speed was not gated
        f"  - {NO_FLOOR}",
        "- `llm_throughput/single`:",
        "  - engine log: OOM",
    ]
    assert NO_FLOOR.startswith("no regression floor for Tesla T4 in llm_throughput/offline")
    assert summary.count(RUN_NOTE) == 1  # in the header, not once per result


def test_summary_without_notes_worth_showing_has_no_notes_section() -> None:
    fine = make_result(notes=[RUN_NOTE, "a note of a passing result"])
    fine.evaluate()
    assert "## Notes" not in render_summary({"notes": [RUN_NOTE]}, [fine])


def test_a_failing_suite_test_says_the_results_own_notes() -> None:
    recorded: dict[str, object] = {}
    with pytest.raises(AssertionError) as missed:
        check_result(invalid_offline(), recorded.__setitem__, [RUN_NOTE])
    message = str(missed.value).splitlines()[0]
    assert message.startswith("resnet50/Offline missed its gates: result_valid = 0, gate >= 1 — notes: ")
    assert INVALID_BATCH in message and SMOKE_RULES in message and RUN_NOTE not in message
    assert recorded["passed"] is False and recorded["result_valid"] == 0.0

    errored = make_result(error="workload process exited 1", notes=[RUN_NOTE, "engine log: OOM"])
    errored.evaluate()
    with pytest.raises(pytest.fail.Exception) as failed:
        check_result(errored, recorded.__setitem__, [RUN_NOTE])
    assert str(failed.value) == "llm_throughput/offline: workload process exited 1 — notes: engine log: OOM"

    check_result(unfloored_throughput(), recorded.__setitem__, [RUN_NOTE])  # a note alone fails nothing


def test_percentiles_match_numpy_linear() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 90) == pytest.approx(4.6)
    assert percentile(values, 99) == pytest.approx(4.96)
    assert percentile([7.0], 99) == 7.0
    summary = latency_summary([0.001, 0.002])
    assert summary["latency_p50_ms"] == pytest.approx(1.5)
    with pytest.raises(ValueError):
        percentile([], 50)
