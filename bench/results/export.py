"""`bench results export --format seed-json RUN`: a run's resnet50 results in the seeds' JSON shape.

    {"timestamp": "...",
     "gpu_info": {"name": "...", "cuda_version": "...", "total_memory_gb": 79.6},
     "benchmarks": [{"scenario": "Offline", "batch_size": 1024, "throughput_samples_per_sec": 26686.5, ...},
                    {"scenario": "SingleStream", "batch_size": 1, "latency_p90_ms": 0.548, "latency_p99_ms": 0.87,
                     ...}, ...]}

One entry per LoadGen test: an Offline result that ran several batch sizes (`offline_batch_sizes`) gives one entry
per size. Each entry also says whether LoadGen called the run VALID, and carries the source result's key.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.errors import BenchError

FORMATS = ("seed-json",)
_PER_BATCH = re.compile(r"^samples_per_s_b(\d+)$")


def load_results(results_dir: Path, run: str) -> tuple[Path, list[dict[str, Any]]]:
    path = results_dir / run / "results.json"
    if not path.exists():
        raise BenchError(f"no run {run!r} under {results_dir} (no {path}): see `bench results list`")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise BenchError(f"{path} should hold a list of results")
    return path, data


def gpu_info(results: list[dict[str, Any]]) -> dict[str, Any]:
    for result in results:
        gpu = (result.get("environment") or {}).get("gpu")
        if isinstance(gpu, dict):
            mib = gpu.get("memory_mib")
            execution = (result.get("config") or {}).get("execution") or {}
            return {"name": gpu.get("name"), "cuda_version": gpu.get("cuda") or execution.get("cuda"),
                    "total_memory_gb": round(mib / 1024, 1) if isinstance(mib, int | float) else None}
    env = results[0].get("environment", {}) if results else {}
    return {"name": None, "cuda_version": None, "total_memory_gb": None, "cpu": env.get("cpu")}


def _entry(result: dict[str, Any], scenario: str, batch: int, extra: dict[str, Any]) -> dict[str, Any]:
    m = result.get("metrics", {})
    entry: dict[str, Any] = {"scenario": scenario, "batch_size": batch, **extra}
    for name in ("latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms"):
        if name in m and name not in entry:
            entry[name] = m[name]
    entry["valid"] = m.get("result_valid") == 1.0
    entry["source"] = f"{result.get('benchmark')}/{scenario}"
    return entry


def seed_entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The seed entries for one resnet50 result (empty for other benchmarks or errored results)."""
    if result.get("benchmark") != "resnet50" or result.get("error"):
        return []
    m = result.get("metrics", {})
    scenario = result.get("scenario", "")
    batch = int(m.get("batch_size", 1))
    if scenario == "Offline":
        per_batch = sorted((int(g.group(1)), v) for k, v in m.items() if (g := _PER_BATCH.match(k)))
        if per_batch:
            return [
                {"scenario": "Offline", "batch_size": b, "throughput_samples_per_sec": v,
                 "valid": m.get(f"result_valid_b{b}") == 1.0, "source": "resnet50/Offline"}
                for b, v in per_batch
            ]
        return [_entry(result, "Offline", batch, {"throughput_samples_per_sec": m.get("samples_per_s")})]
    if scenario == "Server":
        return [_entry(result, "Server", batch, {
            "throughput_samples_per_sec": m.get("samples_per_s"), "target_qps": m.get("target_qps")})]
    if scenario == "SingleStream":
        return [_entry(result, "SingleStream", 1, {
            "latency_p90_ms": m.get("latency_p90_ms"), "latency_p99_ms": m.get("latency_p99_ms"),
            "early_stopping_latency_ms": m.get("early_stopping_latency_ms"),
            "throughput_samples_per_sec": m.get("qps_with_loadgen_overhead")})]
    if scenario == "MultiStream":
        return [_entry(result, "MultiStream", batch, {
            "latency_p99_ms": m.get("latency_p99_ms"),
            "early_stopping_latency_ms": m.get("early_stopping_latency_ms")})]
    return []


def to_seed_json(results: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    benchmarks = [e for r in results for e in seed_entries(r)]
    if not benchmarks:
        raise BenchError(f"run {run_id} has no resnet50 results to export: run `bench run resnet50` first")
    timestamps = sorted(r.get("started_at") for r in results if r.get("started_at"))
    return {
        "timestamp": timestamps[0] if timestamps else run_id,
        "run_id": run_id,
        "gpu_info": gpu_info(results),
        "benchmarks": benchmarks,
    }


def export(results_dir: Path, run: str, fmt: str, output: Path | None) -> str:
    if fmt not in FORMATS:
        raise BenchError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    path, results = load_results(results_dir, run)
    text = json.dumps(to_seed_json(results, path.parent.resolve().name), indent=2) + "\n"
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    return text
