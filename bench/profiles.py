"""Profiles: model + engine arguments + dataset sizes + thresholds. Two ship; DESIGN.md explains them.

Sizes are per size class ("smoke" for `pytest -m smoke`, "full" for `pytest --full`) and per benchmark; each
workload validates its own parameters. Thresholds are per benchmark and scenario, optionally per GPU type (matched
as a substring of the GPU name the workload sees, e.g. "H100", "A30"); "default" applies otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.errors import ConfigError
from bench.models.tiny import TINY_MODEL_ID
from bench.results.schema import Threshold

SIZE_CLASSES = ("smoke", "full")

# benchmark -> scenario -> gpu key ("default" or a GPU name fragment) -> metric -> Threshold
ThresholdTable = dict[str, dict[str, dict[str, dict[str, Threshold]]]]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    model: str
    engine: dict[str, Any]
    sizes: dict[str, dict[str, dict[str, Any]]]  # benchmark -> size class -> params
    thresholds: ThresholdTable
    claims_quality: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    timeout_s: dict[str, int] = field(default_factory=dict)  # size class -> seconds per executor group

    def params_for(self, benchmark: str, size: str) -> dict[str, Any]:
        return dict(self.sizes.get(benchmark, {}).get(size, {}))

    def threshold_table(self, benchmark: str, scenario: str) -> dict[str, dict[str, Threshold]]:
        return dict(self.thresholds.get(benchmark, {}).get(scenario, {}))


def select_gates(table: dict[str, dict[str, Threshold]], gpu_name: str | None) -> dict[str, Threshold]:
    """The gates for this GPU: the first key found in its name, else "default"."""
    if gpu_name:
        for key, gates in table.items():
            if key != "default" and key.lower() in gpu_name.lower():
                return dict(gates)
    return dict(table.get("default", {}))


def _gt0(*metrics: str) -> dict[str, Threshold]:
    return {m: Threshold(">", 0.0) for m in metrics}


_THROUGHPUT_METRICS = ("output_tokens_per_s", "total_tokens_per_s", "requests_per_s")
_SINGLE_METRICS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "output_tokens_per_s")

TINY = Profile(
    name="tiny",
    description="embedded default: a tiny random-weight Llama built on this machine, served by real vLLM",
    model=TINY_MODEL_ID,
    engine={"max_model_len": 4096, "seed": 0, "enable_prefix_caching": False, "dtype": "bfloat16"},
    sizes={
        "llm_throughput": {
            "smoke": {"num_prompts": 64, "input_len": 128, "output_len": 64, "warmup_prompts": 8},
            "full": {"num_prompts": 512, "input_len": 256, "output_len": 128, "warmup_prompts": 16},
        },
    },
    # The tiny model proves the pipeline: every metric is produced and lies in its valid range.
    thresholds={
        "llm_throughput": {
            "offline": {"default": _gt0(*_THROUGHPUT_METRICS)},
            "single": {"default": _gt0(*_SINGLE_METRICS)},
        },
    },
    claims_quality=False,
    notes=(
        "tiny profile: checks the pipeline (engine, executor, metrics, results), not model quality; "
        "use --profile llama3.1-8b on a GPU for real numbers",
    ),
    timeout_s={"smoke": 900, "full": 3600},
)

LLAMA31_8B = Profile(
    name="llama3.1-8b",
    description="meta-llama/Llama-3.1-8B-Instruct on a GPU (MLPerf Inference llama3.1-8b model)",
    model="meta-llama/Llama-3.1-8B-Instruct",
    # max_model_len 4096 as TIGER-Lab's MMLU-Pro script; prefix caching off so repeated runs are not inflated.
    engine={"max_model_len": 4096, "seed": 0, "enable_prefix_caching": False, "dtype": "bfloat16",
            "gpu_memory_utilization": 0.90},
    sizes={
        "llm_throughput": {
            "smoke": {"num_prompts": 100, "input_len": 1024, "output_len": 128, "warmup_prompts": 8},
            "full": {"num_prompts": 1000, "input_len": 1024, "output_len": 128, "warmup_prompts": 16},
        },
    },
    # Regression floors, not targets: about half of what vLLM bf16 reaches on each GPU type. Sites tune them.
    thresholds={
        "llm_throughput": {
            "offline": {
                "default": _gt0(*_THROUGHPUT_METRICS),
                "H100": {**_gt0(*_THROUGHPUT_METRICS), "output_tokens_per_s": Threshold(">=", 1500.0)},
                "H200": {**_gt0(*_THROUGHPUT_METRICS), "output_tokens_per_s": Threshold(">=", 1500.0)},
                "A30": {**_gt0(*_THROUGHPUT_METRICS), "output_tokens_per_s": Threshold(">=", 300.0)},
            },
            "single": {
                "default": _gt0(*_SINGLE_METRICS),
                "H100": {**_gt0(*_SINGLE_METRICS), "latency_p99_ms": Threshold("<=", 2000.0)},
                "H200": {**_gt0(*_SINGLE_METRICS), "latency_p99_ms": Threshold("<=", 2000.0)},
                "A30": {**_gt0(*_SINGLE_METRICS), "latency_p99_ms": Threshold("<=", 6000.0)},
            },
        },
    },
    claims_quality=True,
    timeout_s={"smoke": 3600, "full": 4 * 3600},
)

PROFILES: dict[str, Profile] = {p.name: p for p in (TINY, LLAMA31_8B)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}") from None
