"""llm_throughput — offline batch throughput and single-request latency, the way `vllm bench throughput` measures.

Offline: N prompts of exactly `input_len` random token ids, `output_len` new tokens each with `ignore_eos` (so every
request produces the same amount of work), all submitted at once; a warm-up batch with other token ids runs first
and is not timed. Single: the same prompts one request at a time; latency = submit → last token.

Sampling follows `vllm bench throughput` (temperature 1.0, top_p 1.0, ignore_eos). Token ids are drawn with numpy's
PCG64 (`default_rng(seed).choice(candidates, (N, input_len))`) from the tokenizer's base vocabulary without special
tokens; `config.token_ids` records the recipe and a SHA-256 of the ids so anyone can regenerate and check them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.config import non_negative, positive
from bench.engines import Sampling
from bench.metrics.latency import latency_summary
from bench.workloads.base import Measurement, WorkloadContext


@dataclass(frozen=True)
class Params:
    num_prompts: int = positive(64)
    input_len: int = positive(128)
    output_len: int = positive(64)
    warmup_prompts: int = non_negative(8)
    seed: int = non_negative(0)


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
        metrics = _offline(engine, prompts, sampling, ctx)
    else:
        metrics = _single(engine, prompts, sampling, ctx)
    notes = []
    if metrics.get("output_len_mismatches"):
        notes.append(f"{metrics['output_len_mismatches']:.0f} requests did not produce exactly output_len tokens")
    return Measurement(metrics=metrics, config=config, notes=notes)


def _offline(engine: Any, prompts: list[list[int]], sampling: Sampling, ctx: WorkloadContext) -> dict[str, float]:
    ctx.log(f"[bench] offline: {len(prompts)} prompts × {len(prompts[0])} tokens in, {sampling.max_tokens} out")
    start = time.perf_counter()
    completions = engine.generate(prompts, sampling)
    elapsed = time.perf_counter() - start
    output_tokens = sum(c.output_tokens for c in completions)
    prompt_tokens = sum(c.prompt_tokens for c in completions)
    return {
        "output_tokens_per_s": output_tokens / elapsed,
        "total_tokens_per_s": (output_tokens + prompt_tokens) / elapsed,
        "requests_per_s": len(completions) / elapsed,
        "elapsed_s": elapsed,
        "num_output_tokens": float(output_tokens),
        "num_prompt_tokens": float(prompt_tokens),
        "output_len_mismatches": float(sum(c.output_tokens != sampling.max_tokens for c in completions)),
    }


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
