"""Workloads: what runs inside a Job or a local process. Adding a benchmark = adding a module + a line here.

This registry is light (no engine imports) so that the CLI and pytest can validate a request before anything runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from bench.errors import ConfigError


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    module: str
    scenarios: tuple[str, ...]
    engine: str  # "llm": the profile's LLM in-process; "server": the LLM behind an OpenAI-compatible server (one the
    # executor starts, or --endpoint); "none": brings its own model
    summary: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


BENCHMARKS: dict[str, BenchmarkInfo] = {
    b.name: b
    for b in (
        BenchmarkInfo(
            name="llm_throughput",
            module="bench.workloads.llm_throughput",
            scenarios=("offline", "single"),
            engine="llm",
            summary="offline batch throughput (tokens/s) and single-request latency",
        ),
        BenchmarkInfo(
            name="summarization",
            module="bench.workloads.summarization",
            scenarios=("offline", "mlperf"),  # same run; offline: suite gate ROUGE-L, mlperf: MLPerf's closed gate
            engine="llm",
            summary="MLPerf llama3.1-8b CNN/DailyMail summarization accuracy (ROUGE-1/2/L/Lsum, gen_len)",
        ),
        BenchmarkInfo(
            name="mmlu_pro",
            module="bench.workloads.mmlu_pro",
            scenarios=("offline",),
            engine="llm",
            summary="MMLU-Pro 5-shot chain-of-thought accuracy, TIGER-Lab's prompt and extraction, per category",
        ),
        BenchmarkInfo(
            name="serving",
            module="bench.workloads.serving",
            scenarios=("poisson", "concurrency", "sweep"),
            engine="server",
            summary="online serving through an OpenAI-compatible endpoint: TTFT/TPOT/ITL/E2E, goodput, max rate "
                    "within SLO",
        ),
        BenchmarkInfo(
            name="resnet50",
            module="bench.workloads.resnet50",
            scenarios=("Offline", "Server", "SingleStream", "MultiStream"),
            engine="none",
            summary="torchvision ResNet-50 under MLPerf LoadGen (samples/s, latency percentiles, validity)",
        ),
    )
}


def get_benchmark(name: str) -> BenchmarkInfo:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r}: choose one of {', '.join(BENCHMARKS)}") from None


def check_scenario(info: BenchmarkInfo, scenario: str) -> None:
    if scenario not in info.scenarios:
        raise ConfigError(
            f"unknown scenario {scenario!r} for {info.name}: choose one of {', '.join(info.scenarios)}"
        )


OVERHEAD_KINDS = ("throughput", "latency")


def overhead_metrics(name: str) -> dict[str, dict[str, str]]:
    """scenario -> metric -> "throughput" | "latency": what an overhead comparison holds a candidate to, as the
    workload module declares it in `OVERHEAD_METRICS` (none for a benchmark without one, e.g. accuracy scores)."""
    declared = getattr(get_benchmark(name).load(), "OVERHEAD_METRICS", {})
    for scenario, metrics in declared.items():
        for metric, kind in metrics.items():
            if kind not in OVERHEAD_KINDS:
                raise ConfigError(f"{name}.OVERHEAD_METRICS[{scenario!r}][{metric!r}] is {kind!r}: "
                                  f"choose one of {', '.join(OVERHEAD_KINDS)}")
    return {scenario: dict(metrics) for scenario, metrics in declared.items()}
