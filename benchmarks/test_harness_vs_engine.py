"""pytest-benchmark of the harness's run path beside vLLM called directly (benchmarks/harness_vs_vllm.py, in one
process): the tiny model loaded once into real vLLM, the same prompts, lengths and sampling on both sides.

- engine:  `vllm.LLM.generate` on the prompts as token ids, as the script's direct side does (its DIRECT program).
- harness: `bench.run.run_task` on the llm_throughput/offline task of the tiny profile's plan — what the entry point
           runs per task once the model is loaded: parameters, gates, the workload (prompt ids, SHA-256, the engine
           layer, metrics) and the result.

Each test warms its side up once (untimed) and times ROUNDS rounds of it, the other side running right before every
round (benchmarks/conftest.py `SideBySide`). `ratio_harness_vs_engine` (engine time ÷ harness time over those
back-to-back rounds) is DESIGN.md's "harness adds ≤ 2%" figure for the whole in-process run path;
`ratio_harness_reported_vs_engine` sets the harness's own output tok/s against the engine's, as the script does. The
script's rounds in fresh processes (CLI, plan, executor, process start) remain the measurement of the full path.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pytest_benchmark", reason="these benchmarks run under pytest-benchmark (the dev extra)")

from bench.config import RunGroup, Task, parse_params
from bench.overrides import ParamOverrides
from bench.plan import build_plan
from bench.profiles import TINY
from bench.run import run_task
from bench.workloads import BENCHMARKS
from bench.workloads import llm_throughput as lt

# Small enough that a round takes about a second on 2 CPU cores, large enough to be mostly generation
NUM_PROMPTS, INPUT_LEN, OUTPUT_LEN = 32, 128, 32
ROUNDS = 5
OUTPUT_TOKENS = NUM_PROMPTS * OUTPUT_LEN  # per round, on both sides (ignore_eos: every request makes OUTPUT_LEN)
PAIR = "harness-vs-engine"


@pytest.fixture(scope="module")
def offline_task(tiny_llm: Any) -> tuple[RunGroup, Task]:
    """The tiny profile's llm_throughput/offline at these sizes, without the workload's own warm-up (the benchmark
    warms up once instead of every round)."""
    overrides = ParamOverrides.parse(
        [f"llm_throughput.{k}={v}" for k, v in (("num_prompts", NUM_PROMPTS), ("input_len", INPUT_LEN),
                                                ("output_len", OUTPUT_LEN), ("warmup_prompts", 0), ("passes", 1))],
        BENCHMARKS)
    (group,) = build_plan([("llm_throughput", "offline")], TINY, params=overrides)
    assert group.engine == tiny_llm.ctx.engine_kwargs, "the plan's engine differs from the one loaded"
    return group, group.tasks[0]


@pytest.fixture(scope="module")
def direct_inputs(tiny_llm: Any, offline_task: tuple[RunGroup, Task]) -> tuple[list[Any], Any, str]:
    """The prompts and sampling the harness uses, built as harness_vs_vllm.py's direct program builds them."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    params = parse_params(lt.Params, offline_task[1].params, "llm_throughput/offline")
    candidates = lt.candidate_token_ids(tiny_llm.engine.tokenizer())
    ids = lt.random_prompts(candidates, params.num_prompts, params.input_len, params.seed)
    sampling = SamplingParams(n=1, temperature=1.0, top_p=1.0, ignore_eos=True, max_tokens=params.output_len)
    return [TokensPrompt(prompt_token_ids=p) for p in ids], sampling, lt.prompts_sha256(ids)


@pytest.mark.benchmark(group=PAIR)
@pytest.mark.parametrize("side", ["engine", "harness"])
def test_offline_generation(side: str, benchmark: Any, side_by_side: Any, tiny_llm: Any,
                            offline_task: tuple[RunGroup, Task], direct_inputs: tuple[list[Any], Any, str]) -> None:
    group, task = offline_task
    prompts, sampling, sha256 = direct_inputs
    llm = tiny_llm.engine.llm

    def engine_round() -> list[Any]:
        outputs = llm.generate(prompts, sampling, use_tqdm=False)
        assert sum(len(o.outputs[0].token_ids) for o in outputs) == OUTPUT_TOKENS
        return outputs

    def harness_round() -> Any:
        result = run_task(task, group, tiny_llm.ctx, tiny_llm.environment)
        assert result.error is None, result.error
        assert result.config["token_ids"]["sha256"] == sha256, "the harness generated other prompts than the engine"
        assert result.metrics["output_len_mismatches"] == 0
        return result

    side_by_side.run(benchmark, PAIR, side, {"engine": engine_round, "harness": harness_round}, work=OUTPUT_TOKENS,
                     rounds=ROUNDS, reported=lambda result: result.metrics["output_tokens_per_s"])
    benchmark.extra_info.update(prompts=NUM_PROMPTS, input_len=INPUT_LEN, output_len=OUTPUT_LEN,
                                engine=tiny_llm.engine.info.kwargs)
