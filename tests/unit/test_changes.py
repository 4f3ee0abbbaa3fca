"""Run against run without a store: the direction of each metric, verdicts against the threshold, key metrics, run
metadata in run.json, and secrets kept out of what the store and the report receive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.results.changes import compare_results, direction, judge, key_metrics, render
from bench.results.redact import redact, redact_url
from bench.results.rundir import RunDirectory, load_meta
from tests.stores.conftest import result


@pytest.mark.parametrize(("metric", "sign"), [
    ("samples_per_s", 1), ("output_tokens_per_s", 1), ("request_throughput", 1), ("accuracy", 1), ("rougeL", 1),
    ("goodput_pct", 1), ("latency_p99_ms", -1), ("r4_ttft_p99_ms", -1), ("errors_total", -1),
    ("extraction_failure_rate", -1), ("elapsed_s", -1), ("num_output_tokens", 0), ("questions", 0),
])
def test_the_direction_comes_from_the_metric(metric: str, sign: int) -> None:
    assert direction(metric) == sign


def test_verdicts_against_the_threshold() -> None:
    assert judge("samples_per_s", 100.0, 104.0, 0.05) == (pytest.approx(4.0), "unchanged")
    assert judge("samples_per_s", 100.0, 90.0, 0.05) == (pytest.approx(-10.0), "regressed")
    assert judge("latency_p99_ms", 10.0, 9.0, 0.05) == (pytest.approx(-10.0), "improved")
    assert judge("latency_p99_ms", 10.0, 11.0, 0.05)[1] == "regressed"


def test_key_metrics_are_speed_and_gated_metrics_without_counts() -> None:
    r = result("mmlu_pro", "offline", accuracy=0.4, questions=10.0, extraction_failure_rate=0.1)
    assert key_metrics(r) == ["accuracy", "extraction_failure_rate"]


def test_a_metric_only_the_candidate_has_is_missing_not_a_number() -> None:
    base = [result(samples_per_s=100.0)]
    cand = [result(samples_per_s=100.0, latency_p99_ms=5.0)]
    rows = compare_results(base, cand, "a", "b").rows
    assert [(r.metric, r.verdict) for r in rows] == [("samples_per_s", "unchanged"), ("latency_p99_ms", "missing")]
    assert "missing (no latency_p99_ms on the baseline side)" in render(compare_results(base, cand, "a", "b"))


def test_run_json_records_where_a_run_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCLOUD_TRIGGER", "scheduled")
    run = RunDirectory.create(tmp_path, {"profile": "tiny"}, run_id="r1", trigger="pytest")
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["trigger"] == "scheduled" and meta["run_id"] == "r1" and meta["finished_at"] is None
    assert set(meta["git"]) == {"commit", "dirty"} and meta["header"]["profile"] == "tiny"
    run.finish()
    assert load_meta(run.path)["finished_at"] is not None


def test_secrets_are_masked() -> None:
    assert redact_url("postgresql+psycopg://bench:s3cret@db:5432/bench") == "postgresql+psycopg://bench:***@db:5432/bench"
    assert redact_url("sqlite:///results/history.db") == "sqlite:///results/history.db"
    masked = redact({"hf_token": "hf_abc", "HF_TOKEN": "x", "tokenizer": "/m", "token_ids": {"n": 1},
                     "store": "postgresql://u:pw@h/db", "output_tokens_per_s": 3})
    assert masked == {"hf_token": "***", "HF_TOKEN": "***", "tokenizer": "/m", "token_ids": {"n": 1},
                      "store": "postgresql://u:***@h/db", "output_tokens_per_s": 3}
