"""Profiles: model + engine arguments + dataset sizes + thresholds. Two ship; DESIGN.md explains them.

Sizes are per size class ("smoke" for `pytest -m smoke`, "full" for `pytest --full`) and per benchmark; each
workload validates its own parameters. Thresholds are per benchmark and scenario, optionally per GPU type: a key such
as "H100" or "H200 NVL" matches a GPU name the workload sees (nvidia-smi's) when it appears there as whole words
("H200" matches "NVIDIA H200" and "NVIDIA H200 NVL", not "NVIDIA GH200 480GB"; "A10" does not match "NVIDIA A100"),
the longest matching key wins, and "default" applies otherwise. A GPU type without an entry is never given another
type's numbers: it gets "default" (the speed is reported and must be produced, but no floor is applied) and every
result says so in a note (`gate_notes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ConfigError
from bench.models.tiny import TINY_MODEL_ID
from bench.results.schema import Threshold

SIZE_CLASSES = ("smoke", "full")

# benchmark -> scenario -> gpu key ("default" or a GPU name fragment) -> metric -> Threshold
ThresholdTable = dict[str, dict[str, dict[str, dict[str, Threshold]]]]


@dataclass(frozen=True)
class OverheadMargins:
    """How much worse a candidate runtime may be than the baseline before an overhead comparison FAILs (issue 12's
    gate: < 5% throughput, < 2 ms p99 latency). `per_metric` overrides them per benchmark -> scenario -> metric, in
    the metric's own unit (a fraction for throughput, ms for latency); `bench compare --max-overhead/--max-p99-delta`
    override all of them."""

    max_overhead: float = 0.05  # throughput: R = candidate / baseline must stay above 1 − this
    max_p99_delta_ms: float = 2.0  # latency: Δ = candidate − baseline must stay below this
    per_metric: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = [("max_overhead", self.max_overhead), ("max_p99_delta_ms", self.max_p99_delta_ms)] + [
            (f"per_metric[{b!r}][{s!r}][{m!r}]", v) for b, scenarios in self.per_metric.items()
            for s, metrics in scenarios.items() for m, v in metrics.items()]
        for name, value in values:
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"overhead_margins.{name} must be a number ≥ 0, got {value!r}")

    def margin(self, benchmark: str, scenario: str, metric: str, kind: str) -> float:
        """The margin of one metric: a fraction for kind "throughput", milliseconds for "latency"."""
        value = self.per_metric.get(benchmark, {}).get(scenario, {}).get(metric)
        if value is not None:
            return float(value)
        return self.max_overhead if kind == "throughput" else self.max_p99_delta_ms


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
    overhead_margins: OverheadMargins = field(default_factory=OverheadMargins)  # `bench compare`'s margins

    def params_for(self, benchmark: str, size: str) -> dict[str, Any]:
        return dict(self.sizes.get(benchmark, {}).get(size, {}))

    def threshold_table(self, benchmark: str, scenario: str, random_weights: bool = False
                        ) -> dict[str, dict[str, Threshold]]:
        """The gates of one benchmark × scenario; with random weights an accuracy benchmark's quality gates do not
        apply and its validity gates (every score produced, in range) take their place. Speed gates always apply."""
        if random_weights and benchmark in VALIDITY_GATES:
            return dict(VALIDITY_GATES[benchmark].get(scenario, {}))
        return dict(self.thresholds.get(benchmark, {}).get(scenario, {}))


def _names_gpu(key: str, gpu_name: str) -> bool:
    """Whether the GPU-type key appears in the GPU name as whole words (case-insensitive)."""
    return re.search(rf"(?<![a-z0-9]){re.escape(key.lower())}(?![a-z0-9])", gpu_name.lower()) is not None


def gpu_key(table: dict[str, dict[str, Threshold]], gpu_name: str | None) -> str:
    """The key of `table` whose gates apply on this GPU: the longest GPU-type key found in its name, else
    "default" (also with no GPU)."""
    matches = [key for key in table if key != "default" and gpu_name and _names_gpu(key, gpu_name)]
    return max(matches, key=len) if matches else "default"


def select_gates(table: dict[str, dict[str, Threshold]], gpu_name: str | None) -> dict[str, Threshold]:
    """The gates for this GPU (see `gpu_key`)."""
    return dict(table.get(gpu_key(table, gpu_name), {}))


_NO_FLOOR = "no regression floor for"  # how a `gate_notes` note begins: `is_gate_note` knows it by that


def gate_notes(table: dict[str, dict[str, Threshold]], gpu_name: str | None, benchmark: str, scenario: str,
               ) -> list[str]:
    """The "other GPU" policy in words, for the result: when this benchmark × scenario has regression floors for
    some GPU types but not for this one, say that its speed is reported and not gated, and where to add a floor."""
    typed = [key for key in table if key != "default"]
    if not typed or gpu_key(table, gpu_name) != "default":
        return []
    device = gpu_name or "this machine (no GPU seen)"
    return [f"{_NO_FLOOR} {device} in {benchmark}/{scenario} (floors exist for {', '.join(typed)}): "
            "its speed is reported and must be produced, but no floor applies; to gate it, add an entry for your "
            f"GPU type under thresholds[{benchmark!r}][{scenario!r}] in bench/profiles.py"]


def is_gate_note(note: str) -> bool:
    """Whether a result's note is one of `gate_notes`: a gate that did not apply, which summary.md shows even for a
    result that passed."""
    return note.startswith(_NO_FLOOR)


def _gt0(*metrics: str) -> dict[str, Threshold]:
    return {m: Threshold(">", 0.0) for m in metrics}


_THROUGHPUT_METRICS = ("output_tokens_per_s", "total_tokens_per_s", "requests_per_s")
_SINGLE_METRICS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "output_tokens_per_s")

# resnet50 (LoadGen): every scenario must produce LoadGen's figures; where LoadGen can call a short run VALID
# (Offline, SingleStream at these counts), the gate asks for it; with several Offline batch sizes
# (`offline_batch_sizes`) result_valid is 1 only when LoadGen called every one of them VALID. Server/MultiStream
# short runs miss MLPerf's early-stopping counts and say INVALID: the result records that, the tiny gates do not
# pretend otherwise.
_RN50_VALID = {"result_valid": Threshold(">=", 1.0)}
_RN50_GATES: dict[str, dict[str, Threshold]] = {
    "Offline": {**_gt0("samples_per_s"), **_RN50_VALID},
    "SingleStream": {**_gt0("latency_p90_ms", "qps_with_loadgen_overhead"), **_RN50_VALID},
    "Server": _gt0("samples_per_s", "latency_p99_ms"),
    "MultiStream": _gt0("latency_p99_ms", "latency_mean_ms"),
}
# Accuracy benchmarks. tiny: gates only check that every metric is produced in its valid range (a random-weight model
# has no quality to claim). llama3.1-8b: the suite's quality gates; summarization's `mlperf` scenario applies MLPerf's
# closed-division rule instead (each ROUGE ≥ 99% of the reference, gen_len within ±10%), meant for --full.
_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_SUMMARIZATION_VALID = {**{m: Threshold(">=", 0.0) for m in (*_ROUGE_TYPES, "gen_len")},
                        **_gt0("gen_num")}
_MMLU_PRO_VALID = {**{m: Threshold(">=", 0.0) for m in ("accuracy", "accuracy_strict", "extraction_failure_rate")},
                   **_gt0("questions")}
# What an accuracy benchmark asserts when its model has no quality to claim (the tiny model; random weights).
VALIDITY_GATES: ThresholdTable = {
    "summarization": {s: {"default": _SUMMARIZATION_VALID} for s in ("offline", "mlperf")},
    "mmlu_pro": {"offline": {"default": _MMLU_PRO_VALID}},
}
_SUMMARIZATION_MLPERF = {**{f"{m}_vs_mlperf": Threshold(">=", 0.99) for m in _ROUGE_TYPES},
                         "gen_len_deviation_vs_mlperf": Threshold("<=", 0.10)}

# serving: every scenario must produce its latency and throughput figures without a failed request; llama3.1-8b adds
# MLPerf's llama3.1-8b Server constraints (TTFT p99 ≤ 2 s, TPOT p99 ≤ 100 ms) at the profile's target rate on the GPU
# types measured. Validity (the client kept its schedule) is reported, not gated: on a loaded 2-core machine the
# client shares the CPU with the server, and the result says when a point measured the client.
_SERVING_GATES = {**_gt0("ttft_p99_ms", "tpot_p99_ms", "e2e_p99_ms", "request_throughput", "output_tokens_per_s"),
                  "errors_total": Threshold("<=", 0.0)}
_SERVING_MLPERF = {**_SERVING_GATES, "ttft_p99_ms": Threshold("<=", 2000.0), "tpot_p99_ms": Threshold("<=", 100.0)}
_SERVING_SWEEP = {**_gt0("saturation_rate"), "errors_total": Threshold("<=", 0.0),
                  "max_rate_within_slo": Threshold(">=", 0.0)}

_RN50_TINY = {"image_size": 32, "total_samples": 64, "performance_samples": 64, "batch_size": 8,
              "weights": "random", "server_target_latency_ms": 1000.0, "calibration_batches": 2,
              "cpu_threads": 1}

TINY = Profile(
    name="tiny",
    description="embedded default: a tiny random-weight Llama built on this machine, served by real vLLM",
    model=TINY_MODEL_ID,
    engine={"max_model_len": 4096, "seed": 0, "enable_prefix_caching": False, "dtype": "bfloat16"},
    sizes={
        "llm_throughput": {
            "smoke": {"num_prompts": 64, "input_len": 128, "output_len": 64, "warmup_prompts": 8},
            "full": {"num_prompts": 512, "input_len": 256, "output_len": 128, "warmup_prompts": 16, "passes": 3,
                     "latency_requests": 64},
        },
        # ResNet-50 itself (random weights) on 32×32 synthetic images, so four LoadGen scenarios fit in seconds
        "resnet50": {
            "smoke": {**_RN50_TINY, "min_duration_ms": 1000, "min_query_count": 70},
            "full": {**_RN50_TINY, "image_size": 64, "min_duration_ms": 10000, "min_query_count": 256},
        },
        # bundled samples (12 articles; 12 questions in 3 categories), num_prompts 0 = all of them
        "summarization": {"smoke": {"num_prompts": 10}, "full": {"num_prompts": 0}},
        "mmlu_pro": {"smoke": {"num_prompts": 10}, "full": {"num_prompts": 0}},
        # the vLLM CPU server on this machine: one short Poisson point and one concurrency point at smoke
        "serving": {
            "smoke": {"input_len": 64, "output_len": 16, "num_requests": 24, "rates": "4", "concurrency": "4",
                      "warmup_requests": 4, "sweep_points": 3},
            "full": {"input_len": 128, "output_len": 32, "num_requests": 64, "rates": "2,4,8",
                     "concurrency": "1,4,16", "warmup_requests": 8, "sweep_points": 4},
        },
    },
    # The tiny model proves the pipeline: every metric is produced and lies in its valid range.
    thresholds={
        "llm_throughput": {
            "offline": {"default": _gt0(*_THROUGHPUT_METRICS)},
            "single": {"default": _gt0(*_SINGLE_METRICS)},
        },
        "resnet50": {scenario: {"default": gates} for scenario, gates in _RN50_GATES.items()},
        "serving": {"poisson": {"default": _SERVING_GATES}, "concurrency": {"default": _SERVING_GATES},
                    "sweep": {"default": _SERVING_SWEEP}},
        **VALIDITY_GATES,
    },
    claims_quality=False,
    notes=(
        "tiny profile: checks the pipeline (engine, executor, metrics, results), not model quality; "
        "use --profile llama3.1-8b on a GPU for real numbers",
        "tiny profile: quality gates (summarization ROUGE-L ≥ 0.15, mmlu_pro accuracy ≥ 0.35) are not applicable; "
        "its accuracy gates only check that every score is produced and in range",
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
            # full: three timed passes, the median reported (a fresh GPU process's first pass is not steady);
            # single: latency percentiles from the first `latency_requests` prompts, one at a time
            "smoke": {"num_prompts": 100, "input_len": 1024, "output_len": 128, "warmup_prompts": 8,
                      "latency_requests": 20},
            "full": {"num_prompts": 1000, "input_len": 1024, "output_len": 128, "warmup_prompts": 16, "passes": 3,
                     "latency_requests": 100},
        },
        # smoke: 10 s per scenario (LoadGen judges it; not MLPerf-compliant); full: the MLPerf rules (600 s each)
        "resnet50": {
            "smoke": {"batch_size": 1024, "server_batch_size": 128, "min_duration_ms": 10000,
                      "min_query_count": 1024},
            "full": {"rules": "mlperf", "batch_size": 1024, "server_batch_size": 128,
                     "offline_batch_sizes": "1,8,32,1024"},
        },
        # Hugging Face datasets (cnn_dailymail 3.0.0 validation; TIGER-Lab/MMLU-Pro); num_prompts 0 = the whole set
        "summarization": {"smoke": {"num_prompts": 10, "dataset": "hf"}, "full": {"num_prompts": 0, "dataset": "hf"}},
        "mmlu_pro": {"smoke": {"num_prompts": 10, "dataset": "hf"}, "full": {"num_prompts": 0, "dataset": "hf"}},
        # random 1024 in / 128 out as the `vllm bench serve` anchor (README); target 10 req/s, half of what one
        # H200 holds (19 req/s), where TTFT p99 sits well inside MLPerf's 2 s
        "serving": {
            "smoke": {"input_len": 1024, "output_len": 128, "num_requests": 200, "rates": "10", "target_rate": 10.0,
                      "concurrency": "16", "warmup_requests": 16, "sweep_points": 4},
            "full": {"input_len": 1024, "output_len": 128, "num_requests": 600, "rates": "5,10,15,20",
                     "target_rate": 10.0, "concurrency": "1,8,32,64", "warmup_requests": 32, "sweep_points": 6},
        },
    },
    # Regression floors, not targets (README "Speed gates per GPU type"): a GPU-type entry keeps every gate of
    # "default" and adds a floor well below what was seen on that type, so a healthy run never flakes and a real
    # regression (a broken driver, runtime or virtualization layer) fails. A GPU type without an entry gets
    # "default" and a note saying its speed is not gated (gate_notes). Sites add their own types here.
    thresholds={
        "llm_throughput": {
            # vLLM bf16 at 1024 in / 128 out; floors about half of what was seen (processes differ by 10-20%).
            # H200: 3,061 output tok/s at --full (median of 3 passes; 2,650-3,272 across processes, 2,403 the
            # slowest harness process of benchmarks/harness_vs_vllm.py), 2,742 at smoke (README "Seen on one H200").
            # H100, A30: floors from the first profile, no measurement recorded in this repository.
            "offline": {
                "default": _gt0(*_THROUGHPUT_METRICS),
                "H100": {**_gt0(*_THROUGHPUT_METRICS), "output_tokens_per_s": Threshold(">=", 1500.0)},
                "H200": {**_gt0(*_THROUGHPUT_METRICS), "output_tokens_per_s": Threshold(">=", 1500.0)},
                "A30": {**_gt0(*_THROUGHPUT_METRICS), "output_tokens_per_s": Threshold(">=", 300.0)},
            },
            # one request at a time, 128 output tokens; p99 ceilings about twice what was seen.
            # H200: p50 655 ms, p99 666 ms (100 requests, --full), p99 667 ms at smoke (README "Seen on one H200").
            "single": {
                "default": _gt0(*_SINGLE_METRICS),
                "H100": {**_gt0(*_SINGLE_METRICS), "latency_p99_ms": Threshold("<=", 2000.0)},
                "H200": {**_gt0(*_SINGLE_METRICS), "latency_p99_ms": Threshold("<=", 1300.0)},
                "A30": {**_gt0(*_SINGLE_METRICS), "latency_p99_ms": Threshold("<=", 6000.0)},
            },
        },
        # LoadGen runs repeat within ~1% on one machine, so throughput floors sit at about 3/4 of what was seen and
        # latency ceilings at 2-3x. H100 80GB HBM3 (README "ResNet-50 under LoadGen"): Offline 26,511 samples/s at
        # batch 1024, SingleStream p90 0.548 ms. H200 (README "Speed gates per GPU type"): Offline 31,887 and
        # 31,640 samples/s VALID (smoke rules), SingleStream p90 0.515 ms. The performance target on the H200
        # (Offline ≥ 31,000, SingleStream p90 ≤ 0.55 ms) is measured by benchmarks/resnet50_*.py, not gated here.
        "resnet50": {
            "Offline": {"default": _RN50_GATES["Offline"],
                        "H100": {**_RN50_GATES["Offline"], "samples_per_s": Threshold(">=", 20000.0)},
                        "H200": {**_RN50_GATES["Offline"], "samples_per_s": Threshold(">=", 24000.0)}},
            "SingleStream": {"default": _RN50_GATES["SingleStream"],
                             "H100": {**_RN50_GATES["SingleStream"], "latency_p90_ms": Threshold("<=", 1.5)},
                             "H200": {**_RN50_GATES["SingleStream"], "latency_p90_ms": Threshold("<=", 1.0)}},
            "Server": {"default": {**_RN50_GATES["Server"], **_RN50_VALID}},
            "MultiStream": {"default": _RN50_GATES["MultiStream"]},
        },
        "summarization": {
            "offline": {"default": {"rougeL": Threshold(">=", 0.15), **_gt0("gen_num")}},
            "mlperf": {"default": _SUMMARIZATION_MLPERF},
        },
        "mmlu_pro": {"offline": {"default": {"accuracy": Threshold(">=", 0.35), **_gt0("questions")}}},
        # MLPerf llama3.1-8b Server latency constraints at the target rate where they were seen to hold (H200: TTFT
        # p99 ≤ 2 s up to ~19 req/s with `vllm bench serve`, README); other GPU types report them ungated
        "serving": {
            "poisson": {"default": _SERVING_GATES, "H100": _SERVING_MLPERF, "H200": _SERVING_MLPERF},
            "concurrency": {"default": _SERVING_GATES},
            "sweep": {"default": _SERVING_SWEEP},
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
