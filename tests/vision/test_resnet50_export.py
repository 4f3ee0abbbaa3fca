"""`bench results export --format seed-json RUN`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main


def _result(scenario: str, metrics: dict, **extra) -> dict:
    return {"benchmark": "resnet50", "scenario": scenario, "profile": "p", "metrics": metrics, "thresholds": {},
            "passed": True, "config": {"execution": {"cuda": "13.0"}}, "started_at": "2026-11-22T06:00:00+00:00",
            "environment": {"gpu": {"name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559}}, "duration_s": 1.0,
            "error": None, "notes": [], **extra}


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "20261122-060000-abcd"
    run.mkdir(parents=True)
    results = [
        _result("Offline", {"samples_per_s": 26000.0, "samples_per_s_b1": 2000.0, "result_valid_b1": 1.0,
                            "samples_per_s_b32": 21000.0, "result_valid_b32": 0.0, "batch_size": 32.0}),
        _result("Server", {"samples_per_s": 14000.0, "target_qps": 14000.0, "latency_p99_ms": 14.0,
                           "result_valid": 1.0, "batch_size": 128.0}),
        _result("SingleStream", {"latency_p90_ms": 0.55, "latency_p99_ms": 0.87, "result_valid": 1.0,
                                 "qps_with_loadgen_overhead": 1900.0, "batch_size": 1.0}),
        {**_result("MultiStream", {}), "error": "boom"},
        {**_result("offline", {"output_tokens_per_s": 1.0}), "benchmark": "llm_throughput"},
    ]
    (run / "results.json").write_text(json.dumps(results))
    (tmp_path / "latest").symlink_to(run.name)
    return run


def test_seed_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run_dir(tmp_path)
    out = tmp_path / "seed.json"
    assert main(["results", "export", "--format", "seed-json", "latest", "--results-dir", str(tmp_path),
                 "--output", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(out.read_text())
    assert data["timestamp"] == "2026-11-22T06:00:00+00:00" and data["run_id"] == "20261122-060000-abcd"
    assert data["gpu_info"] == {"name": "NVIDIA H100 80GB HBM3", "cuda_version": "13.0", "total_memory_gb": 79.6}
    rows = [(b["scenario"], b["batch_size"]) for b in data["benchmarks"]]
    assert rows == [("Offline", 1), ("Offline", 32), ("Server", 128), ("SingleStream", 1)]
    offline_b1, offline_b32, server, single = data["benchmarks"]
    assert offline_b1["throughput_samples_per_sec"] == 2000.0 and offline_b1["valid"] is True
    assert offline_b32["valid"] is False
    assert server["latency_p99_ms"] == 14.0 and server["throughput_samples_per_sec"] == 14000.0
    assert single["latency_p90_ms"] == 0.55 and single["latency_p99_ms"] == 0.87


def test_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run_dir(tmp_path)
    assert main(["results", "export", "--format", "csv", run.name, "--results-dir", str(tmp_path)]) == 2
    assert "seed-json" in capsys.readouterr().err
    assert main(["results", "export", "nope", "--results-dir", str(tmp_path)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
