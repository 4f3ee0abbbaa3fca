"""llm_throughput — offline batch throughput and single-request latency, the way `vllm bench throughput` measures.

Offline: N prompts of exactly `input_len` random token ids, `output_len` new tokens each with `ignore_eos` (so every
request produces the same amount of work), all submitted at once; a warm-up batch with other token ids runs first
and is not timed. With `passes` > 1 the same generation is timed that many times in the one process and the median
pass is the result (`*_per_s`), beside each pass's output tok/s, the range and `first_pass_ratio` (first ÷ median):
on a GPU a fresh process's first timed pass is not reliably steady (kernels still being compiled or tuned for batch
sizes the warm-up did not reach), and the median of three is not moved by one such pass. Prefix caching is off in
the profiles, so a repeated pass costs what the first did.
Single: the first `latency_requests` prompts (0: all) one request at a time; latency = submit → last token.

Sampling follows `vllm bench throughput` (temperature 1.0, top_p 1.0, ignore_eos). Token ids are drawn with numpy's
PCG64 (`default_rng(seed).choice(candidates, (N, input_len))`) from the tokenizer's base vocabulary without special
tokens; `config.token_ids` records the recipe and a SHA-256 of the ids so anyone can regenerate and check them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bench.config import non_negative, positive
from bench.engines import Sampling
from bench.metrics.latency import latency_summary
from bench.metrics.repeats import Repeats
from bench.workloads.base import Measurement, WorkloadContext

if TYPE_CHECKING:
    from bench.metrics.overhead import MetricKind

# What an overhead comparison (`bench compare`) holds a candidate to, per scenario: offline throughput (higher is
# better, margin a fraction) and the single-request p99 latency (lower is better, margin in ms).
OVERHEAD_METRICS: dict[str, dict[str, MetricKind]] = {
    "offline": {"output_tokens_per_s": "throughput"},
    "single": {"latency_p99_ms": "latency"},
}


@dataclass(frozen=True)
class Params:
    num_prompts: int = positive(64)
    input_len: int = positive(128)
    output_len: int = positive(64)
    warmup_prompts: int = non_negative(8)
    seed: int = non_negative(0)
    passes: int = positive(1)  # offline: timed passes over the same prompts; the median pass is reported
    latency_requests: int = non_negative(0)  # single: requests timed one at a time (0: num_prompts)


def candidate_token_ids(tokenizer: Any) -> list[int]:
    """Base-vocabulary ids that are not special tokens (what a random prompt may contain)."""
    special = set(tokenizer.all_special_ids)
    return [i for i in range(tokenizer.vocab_size) if i not in special]


def random_prompts(candidates: list[int], num: int, length: int, seed: int) -> list[list[int]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = rng.choice(np.asarray(candidates, dtype=np.int64), size=(num, length))
    return ids.tolist()


def prompts_sha256(prompts: list[list[int]]) -> str:
    import numpy as np

    return hashlib.sha256(np.asarray(prompts, dtype=np.int64).tobytes()).hexdigest()


def sampling_for(params: Params) -> Sampling:
    return Sampling(max_tokens=params.output_len, temperature=1.0, top_p=1.0, ignore_eos=True)


def run(scenario: str, params: Params, ctx: WorkloadContext) -> Measurement:
    engine = ctx.llm()
    candidates = candidate_token_ids(engine.tokenizer())
    prompts = random_prompts(candidates, params.num_prompts, params.input_len, params.seed)
    warmup = random_prompts(candidates, params.warmup_prompts, params.input_len, params.seed + 1)
    sampling = sampling_for(params)
    config = {
        "model": ctx.model,
        **asdict(params),
        "engine": engine.info.kwargs,
        "sampling": asdict(sampling),
        "token_ids": {
            "generator": "numpy.random.default_rng(seed).choice(candidates, size=(num_prompts, input_len))",
            "candidates": "range(tokenizer.vocab_size) minus tokenizer.all_special_ids",
            "num_candidates": len(candidates),
            "sha256": prompts_sha256(prompts),
        },
    }
    if warmup:
        ctx.log(f"[bench] warm-up: {len(warmup)} prompts (not timed)")
        engine.generate(warmup, sampling)
    if scenario == "offline":
        metrics = _offline(engine, prompts, sampling, ctx, params.passes)
    else:
        metrics = _single(engine, prompts[: params.latency_requests or None], sampling, ctx)
    notes = []
    if metrics.get("output_len_mismatches"):
        notes.append(f"{metrics['output_len_mismatches']:.0f} requests did not produce exactly output_len tokens")
    return Measurement(metrics=metrics, config=config, notes=notes)


def _offline(engine: Any, prompts: list[list[int]], sampling: Sampling, ctx: WorkloadContext,
             passes: int = 1) -> dict[str, float]:
    ctx.log(f"[bench] offline: {len(prompts)} prompts × {len(prompts[0])} tokens in, {sampling.max_tokens} out"
            + (f", {passes} timed passes (median reported)" if passes > 1 else ""))
    timed = []
    for index in range(1, passes + 1):
        start = time.perf_counter()
        completions = engine.generate(prompts, sampling)
        elapsed = time.perf_counter() - start
        output_tokens = sum(c.output_tokens for c in completions)
        prompt_tokens = sum(c.prompt_tokens for c in completions)
        mismatches = sum(c.output_tokens != sampling.max_tokens for c in completions)
        timed.append((elapsed, output_tokens, prompt_tokens, mismatches))
        if passes > 1:
            ctx.log(f"[bench] pass {index}/{passes}: {output_tokens / elapsed:.1f} output tok/s ({elapsed:.2f} s)")
    elapsed = Repeats.of([t[0] for t in timed]).median
    _, output_tokens, prompt_tokens, _ = timed[0]  # the same in every pass (fixed lengths, ignore_eos)
    per_pass = Repeats.of([t[1] / t[0] for t in timed])
    metrics = {
        "output_tokens_per_s": output_tokens / elapsed,
        "total_tokens_per_s": (output_tokens + prompt_tokens) / elapsed,
        "requests_per_s": len(prompts) / elapsed,
        "elapsed_s": elapsed,
        "num_output_tokens": float(output_tokens),
        "num_prompt_tokens": float(prompt_tokens),
        "output_len_mismatches": float(max(t[3] for t in timed)),
        "passes": float(passes),
    }
    if passes > 1:
        metrics.update({
            **{f"output_tokens_per_s_pass{i}": v for i, v in enumerate(per_pass.values, 1)},
            "output_tokens_per_s_min": per_pass.min,
            "output_tokens_per_s_max": per_pass.max,
            "pass_spread_pct": per_pass.spread_pct,
            "first_pass_ratio": per_pass.values[0] / per_pass.median,
        })
    return metrics


def _single(engine: Any, prompts: list[list[int]], sampling: Sampling, ctx: WorkloadContext) -> dict[str, float]:
    ctx.log(f"[bench] single: {len(prompts)} requests one at a time")
    latencies: list[float] = []
    output_tokens = 0
    mismatches = 0
    for prompt in prompts:
        start = time.perf_counter()
        (completion,) = engine.generate([prompt], sampling)
        latencies.append(time.perf_counter() - start)
        output_tokens += completion.output_tokens
        mismatches += completion.output_tokens != sampling.max_tokens
    busy = sum(latencies)
    return {
        **latency_summary(latencies),
        "output_tokens_per_s": output_tokens / busy,
        "requests_per_s": len(latencies) / busy,
        "num_output_tokens": float(output_tokens),
        "output_len_mismatches": float(mismatches),
    }
