"""pytest-benchmark of benchmarks/resnet50_side_by_side.py at a tiny size on the CPU: the harness's LoadGen SUT
beside the plain PyTorch loop, on the same model and the same number of samples per round.

- plain:   the model's forward pass on one static batch, SAMPLES ÷ batch times (the script's `plain_loop`, whose
           static batch is built the same way; on the CPU there is nothing to synchronise).
- loadgen: one LoadGen Offline test of SAMPLES samples through the resnet50 workload's QSL and SUT
           (`run_loadgen_test`: settings, user.conf, StartTest, the detail log read back) — what `bench run resnet50
           --scenario Offline` times, with the expected rate calibrated once as the workload does.

The two sides run round by round (benchmarks/conftest.py `SideBySide`). `ratio_loadgen_vs_plain` (plain time ÷
LoadGen time, back to back) counts everything one LoadGen test costs around the model, its fixed start and log
writing included, which weighs a lot at this size; `ratio_loadgen_reported_vs_plain` is the script's figure:
LoadGen's own samples/s ÷ the plain loop's.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytest_benchmark", reason="these benchmarks run under pytest-benchmark (the dev extra)")

SAMPLES = 128  # per round: 16 batches of 8 at 32×32, about a second on one CPU thread
ROUNDS = 5
PAIR = "resnet50-side-by-side"


@pytest.mark.benchmark(group=PAIR)
@pytest.mark.parametrize("side", ["plain", "loadgen"])
def test_offline_samples(side: str, benchmark: Any, side_by_side: Any, resnet50_cpu: Any, tmp_path: Path) -> None:
    import mlperf_loadgen as lg
    import torch

    from bench.workloads import resnet50 as rn

    runner, batch = resnet50_cpu.runner, resnet50_cpu.params.batch_size
    assert SAMPLES % batch == 0
    x = runner._nchw(torch.randn(batch, runner.image_size, runner.image_size, 3).to(runner.dtype))
    params = replace(resnet50_cpu.params, min_duration_ms=0, min_query_count=SAMPLES)  # exactly SAMPLES samples
    source, total, _ = rn.sample_source(params)
    qsl = rn.ImageLibrary(source, total, min(params.performance_samples, total), runner)

    def plain_round() -> None:
        with torch.inference_mode():
            for _ in range(SAMPLES // batch):
                runner.fn(x)

    def loadgen_round() -> float:
        outcome, sut = rn.run_loadgen_test(lg, "Offline", runner, qsl, tmp_path / "Offline", params, batch,
                                           {"offline_expected_qps": resnet50_cpu.expected_qps})
        assert sut.completed == SAMPLES, f"LoadGen issued {sut.completed} samples, not {SAMPLES}"
        assert outcome.log.get("result_validity") == "VALID", outcome.log.get("result_invalid_reason")
        return outcome.metrics["samples_per_s"]

    side_by_side.run(benchmark, PAIR, side, {"plain": plain_round, "loadgen": loadgen_round}, work=SAMPLES,
                     rounds=ROUNDS, reported=lambda samples_per_s: samples_per_s)
    benchmark.extra_info.update(samples=SAMPLES, batch=batch, image_size=runner.image_size,
                                torch_threads=torch.get_num_threads(), execution=runner.choices())
