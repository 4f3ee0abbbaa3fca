"""ResNet-50 Offline through LoadGen vs the plain model loop, side by side on the same GPU, in one process.

    python benchmarks/resnet50_side_by_side.py [--batch 1024] [--seconds 20] [--precision fp16] [--freezing auto|on|off]
                                               [--input-location device|host] [--json OUT.json]

1. plain loop: the same compiled model (fp16/bf16, channels_last, torch.compile default mode) on one static
   batch already on the GPU, `iters` forward passes, synchronised, samples/s — what "plain PyTorch" reaches;
   and the CUDA-graph replay of that batch where the batch is graphed.
2. LoadGen: the resnet50 workload's Offline test (QSL holds the 1024-sample performance set, SUT batches of
   `--batch`, responses per sample) for `--seconds` of LoadGen min_duration; LoadGen's samples/s.
Prints both and the ratio LoadGen / plain; `--json` writes them. Random weights, synthetic images (speed only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def plain_loop(runner, batch: int, seconds: float) -> dict[str, float]:
    import torch

    x = torch.randn(batch, runner.image_size, runner.image_size, 3, device=runner.device).to(runner.dtype)
    x = runner._nchw(x)
    out = {}
    with torch.inference_mode():
        for _ in range(3):
            runner.fn(x)
        torch.cuda.synchronize()
        iters = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(10):
                runner.fn(x)
            iters += 10
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    out["plain_compiled_samples_per_s"] = iters * batch / elapsed
    graph = runner._graphs.get(batch)
    if graph is not None:
        torch.cuda.synchronize()
        iters = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(10):
                graph.replay()
            iters += 10
            torch.cuda.synchronize()
        out["plain_graph_samples_per_s"] = iters * batch / (time.perf_counter() - start)
    return out


def pipelined_loop(runner, batch: int, seconds: float) -> float:
    """The SUT's runner path without LoadGen: gather + forward + argmax + copy back, two batches in flight."""
    import numpy as np

    from bench.data.imagenet import synthetic_images

    runner.set_store(synthetic_images(1024, seed=7, size=runner.image_size))
    rng = np.random.default_rng(0)
    pending, done = [], 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        pending.append(runner.submit(rng.integers(0, 1024, batch)))
        if len(pending) >= 2:
            pending.pop(0).wait()
            done += batch
    for p in pending:
        p.wait()
        done += batch
    elapsed = time.perf_counter() - start
    runner.clear_store()
    return done / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=20.0, help="LoadGen min_duration and plain-loop time")
    parser.add_argument("--precision", default="fp16", choices=["fp16", "bf16", "fp32"])
    parser.add_argument("--freezing", default="auto", choices=["auto", "on", "off"],
                        help="inductor freezing (conv+bn folded); auto = on")
    parser.add_argument("--input-location", default="device", choices=["device", "host"])
    parser.add_argument("--graph-max-batch", type=int, default=1024)
    parser.add_argument("--artifacts", type=Path, default=Path("results/side_by_side"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import mlperf_loadgen as lg

    from bench.workloads import resnet50 as rn

    params = rn.Params(
        device="cuda", precision=args.precision, batch_size=args.batch, min_duration_ms=int(args.seconds * 1000),
        min_query_count=1, weights="random", input_location=args.input_location, freezing=args.freezing,
        graph_max_batch=args.graph_max_batch,
    )
    t0 = time.perf_counter()
    _, runner = rn.get_runner(params, [args.batch], print)
    print(f"prepared batch {args.batch} in {time.perf_counter() - t0:.1f} s: {runner.choices()}", flush=True)

    plain = plain_loop(runner, args.batch, min(args.seconds, 15.0))
    plain_best = max(plain.values())
    plain["pipelined_runner_samples_per_s"] = pipelined_loop(runner, args.batch, min(args.seconds, 15.0))

    source, total, _ = rn.sample_source(params)
    qsl = rn.ImageLibrary(source, total, min(params.performance_samples, total), runner)
    qps, _ = rn.calibrate(runner, args.batch, 5)
    params = replace(params, offline_target_qps=qps)
    outcome, sut = rn.run_loadgen_test(lg, "Offline", runner, qsl, args.artifacts / f"Offline_b{args.batch}",
                                       params, args.batch, {"offline_expected_qps": float(qps)})
    loadgen = outcome.metrics.get("samples_per_s", float("nan"))
    after = plain_loop(runner, args.batch, 10.0)["plain_compiled_samples_per_s"]  # drift check (clocks, heat)
    ratio_compiled = loadgen / plain["plain_compiled_samples_per_s"]
    report = {
        "batch": args.batch, "precision": args.precision, "freezing": args.freezing,
        "input_location": args.input_location, **plain, "calibrated_samples_per_s": qps,
        "loadgen_samples_per_s": loadgen, "loadgen_validity": outcome.log.get("result_validity"),
        "loadgen_samples": sut.completed, "sut": outcome.sut_stats, "plain_after_loadgen_samples_per_s": after,
        "ratio_loadgen_vs_plain_compiled": ratio_compiled,
        "ratio_loadgen_vs_best_plain": loadgen / plain_best, "execution": runner.choices(),
    }
    print(f"plain loop (compiled, static batch on GPU): {plain['plain_compiled_samples_per_s']:10.1f} samples/s")
    if "plain_graph_samples_per_s" in plain:
        print(f"plain loop (CUDA graph replay):             {plain['plain_graph_samples_per_s']:10.1f} samples/s")
    print(f"pipelined runner, no LoadGen:               {plain['pipelined_runner_samples_per_s']:10.1f} samples/s")
    print(f"plain loop again after LoadGen:             {after:10.1f} samples/s; SUT {outcome.sut_stats}")
    print(f"LoadGen Offline ({outcome.log.get('result_validity')}, {sut.completed} samples): "
          f"{loadgen:10.1f} samples/s")
    print(f"ratio LoadGen / plain compiled: {ratio_compiled:.4f}; LoadGen / best plain: {loadgen / plain_best:.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
