"""The result schema, thresholds, the run directory contract and summary.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.metrics.latency import latency_summary, percentile
from bench.results.rundir import RunDirectory, load_results
from bench.results.schema import Result, Threshold


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
