"""Run resnet50 LoadGen scenarios with chosen parameters, and sweep Server QPS for the highest passing rate.

    python benchmarks/resnet50_scenarios.py --params '{"device": "cuda", "min_duration_ms": 20000}' \
        --scenarios Offline,SingleStream,MultiStream --server-qps 20000,24000,26000 --json OUT.json

Each scenario goes through the workload's `run()` (what `bench run resnet50` does). The Server sweep runs one
LoadGen Server test per target QPS (same model, buckets compiled once) and reports p99, validity and whether
p99 ≤ the latency bound; the answer is the highest QPS that LoadGen calls VALID.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="{}", help="resnet50 Params as JSON")
    parser.add_argument("--scenarios", default="", help="comma-separated: Offline,SingleStream,MultiStream,Server")
    parser.add_argument("--server-qps", default="", help="comma-separated target QPS values to sweep")
    parser.add_argument("--artifacts", type=Path, default=Path("results/resnet50_scenarios"))
    parser.add_argument("--coalesce-qps", default="", help="more Server QPS values, run with server_coalesce on")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import mlperf_loadgen as lg

    from bench.config import parse_params
    from bench.models.resnet50 import default_buckets
    from bench.workloads import resnet50 as rn
    from bench.workloads.base import WorkloadContext

    params = parse_params(rn.Params, json.loads(args.params), "--params")
    rn.check_params(params)
    ctx = WorkloadContext(model="", engine_kind="none", engine_kwargs={}, pool=None,  # type: ignore[arg-type]
                          artifacts_dir=args.artifacts, log=lambda m: print(m, flush=True))
    report: dict = {"params": json.loads(args.params), "scenarios": {}, "server_sweep": []}
    for scenario in [s for s in args.scenarios.split(",") if s]:
        t0 = time.perf_counter()
        m = rn.run(scenario, params, ctx)
        report["scenarios"][scenario] = {"metrics": m.metrics, "notes": m.notes,
                                         "execution": m.config["execution"], "loadgen": m.config["loadgen"],
                                         "wall_s": round(time.perf_counter() - t0, 1)}
        _dump(args.json, report)
    if args.server_qps or args.coalesce_qps:
        server_batch = params.server_batch_size or params.batch_size
        buckets = rn.parse_sizes(params.server_batch_buckets, "server_batch_buckets") or default_buckets(server_batch)
        _, runner = rn.get_runner(params, buckets, ctx.log)
        source, total, _ = rn.sample_source(params)
        qsl = rn.ImageLibrary(source, total, min(params.performance_samples, total), runner)
        runs = [(float(q), params.server_coalesce) for q in args.server_qps.split(",") if q]
        runs += [(float(q), True) for q in args.coalesce_qps.split(",") if q]
        if params.server_warmup_ms:  # untimed, as the workload does: the first Server test of a process has tails
            warm = replace(params, min_duration_ms=params.server_warmup_ms, min_query_count=1)
            w, _ = rn.run_loadgen_test(lg, "Server", runner, qsl, args.artifacts / "Server_warmup", warm,
                                       max(buckets), {"server_target_qps": runs[0][0]})
            print(f"[server] warm-up at {runs[0][0]:g}: {w.log.get('result_validity')} "
                  f"p99 {w.metrics.get('latency_p99_ms', 0):.2f} ms", flush=True)
        for qps, coalesce in runs:
            p = replace(params, server_target_qps=qps, server_coalesce=coalesce)
            calibrated: dict = {"server_target_qps": qps}
            if p.server_coalesce:
                calibrated["server_coalesce_queries"] = True
            if p.server_target_latency_ms:
                calibrated["server_target_latency_ns"] = int(p.server_target_latency_ms * 1e6)
            name = f"Server_{qps:g}{'_coalesce' if coalesce else ''}"
            outcome, sut = rn.run_loadgen_test(lg, "Server", runner, qsl, args.artifacts / name, p,
                                               max(buckets), calibrated)
            row = {"target_qps": qps, "coalesce": coalesce, **{k: outcome.metrics.get(k) for k in (
                "result_valid", "samples_per_s", "latency_p50_ms", "latency_p90_ms", "latency_p95_ms",
                "latency_p99_ms", "early_stopping_met", "perf_constraints_met", "overlatency_queries")},
                "validity": outcome.log.get("result_validity"), "mean_batch": sut.completed / max(len(sut.batches), 1),
                "sut": outcome.sut_stats,
                "early_stopping_result": outcome.log.get("early_stopping_result")}
            report["server_sweep"].append(row)
            print(f"[server] qps {qps:g}{' coalesce' if coalesce else ''}: {row['validity']} "
                  f"p99 {row['latency_p99_ms']:.2f} ms "
                  f"completed {row['samples_per_s']:.0f}/s mean batch {row['mean_batch']:.1f} "
                  f"max gap {outcome.sut_stats['max_gap_between_completions_ms']} ms "
                  f"max gpu wait {outcome.sut_stats['max_gpu_wait_ms']} ms", flush=True)
            _dump(args.json, report)
        passing = [r for r in report["server_sweep"] if r["validity"] == "VALID"]
        report["server_best_valid_qps"] = max((r["target_qps"] for r in passing), default=None)
        report["server_best_valid"] = max(passing, key=lambda r: r["target_qps"], default=None)
    _dump(args.json, report)
    print("\n== summary")
    for scenario, data in report["scenarios"].items():
        m = data["metrics"]
        shown = {k: round(v, 4) for k, v in m.items() if k in (
            "result_valid", "samples_per_s", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
            "early_stopping_latency_ms", "qps_with_loadgen_overhead") or k.startswith("samples_per_s_b")}
        print(f"{scenario}: {shown}")
    if report["server_sweep"]:
        print(f"Server best VALID target QPS: {report.get('server_best_valid_qps')}")
    return 0


def _dump(path: Path | None, report: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
