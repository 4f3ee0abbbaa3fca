"""`--engine-arg` and `--param`: parsing, typing, aiming at one benchmark, and one-line errors that list what exists."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.overrides import ParamOverrides, convert, format_assignments, parse_engine_args
from bench.plan import build_plan
from bench.profiles import get_profile
from bench.workloads import BENCHMARKS

TINY = get_profile("tiny")
LLM_AND_RN50 = [("llm_throughput", "offline"), ("resnet50", "Offline"), ("summarization", "offline")]


def parse(*items: str) -> ParamOverrides:
    return ParamOverrides.parse(items, BENCHMARKS)


def test_engine_args_parse_as_json_where_they_can() -> None:
    args = parse_engine_args(["tensor_parallel_size=2", "enforce_eager=true", "quantization=fp8",
                              "load_format=dummy", "gpu-memory-utilization=0.85", 'compilation_config={"mode": 3}',
                              "kv_cache_dtype=fp8_e5m2", "max_model_len=8192"])
    assert args == {"tensor_parallel_size": 2, "enforce_eager": True, "quantization": "fp8", "load_format": "dummy",
                    "gpu_memory_utilization": 0.85, "compilation_config": {"mode": 3},
                    "kv_cache_dtype": "fp8_e5m2", "max_model_len": 8192}
    assert format_assignments({"tensor_parallel_size": 2, "quantization": "fp8"}) == \
        "tensor_parallel_size=2 quantization=fp8"


@pytest.mark.parametrize("item", ["tensor_parallel_size", "=2", ""])
def test_engine_arg_without_key_value_is_an_error(item: str) -> None:
    with pytest.raises(ConfigError, match=r"--engine-arg .*expected KEY=VALUE, e.g. --engine-arg tensor_parallel"):
        parse_engine_args([item])


def test_params_merge_over_profile_sizes_and_aim_at_one_benchmark() -> None:
    params = parse("num_prompts=5", "llm_throughput.input_len=2048", "summarization.dataset=/data/cnn_eval.json",
                   "resnet50.server_coalesce=true", "resnet50.server_target_qps=1500")
    plan = build_plan(LLM_AND_RN50, TINY, "smoke", params=params)
    tasks = {t.key: t.params for g in plan for t in g.tasks}
    llm, summ, rn50 = tasks["llm_throughput/offline"], tasks["summarization/offline"], tasks["resnet50/Offline"]
    assert (llm["num_prompts"], llm["input_len"], llm["output_len"]) == (5, 2048, 64)  # output_len: the profile's
    assert (summ["num_prompts"], summ["dataset"]) == (5, "/data/cnn_eval.json")
    assert "num_prompts" not in rn50  # resnet50 has no such parameter: the unprefixed one does not reach it
    assert rn50["server_coalesce"] is True and rn50["server_target_qps"] == 1500.0


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["llm_throughput.foo=1"],
         "--param llm_throughput.foo: llm_throughput has no parameter 'foo'; its parameters: "
         "num_prompts, input_len, output_len, warmup_prompts, seed, passes, latency_requests"),
        (["foo=1"], "--param foo: no benchmark of this run has a parameter 'foo' (llm_throughput: num_prompts, "),
        (["nope.foo=1"], "--param nope.foo=1: unknown benchmark 'nope'; choose one of llm_throughput, summarization"),
        (["llm_throughput.input_len=abc"], "--param llm_throughput.input_len=abc: expected an integer"),
        (["llm_throughput.input_len=0"], "input_len must be ≥ 1, got 0"),
        (["resnet50.server_coalesce=maybe"], "--param resnet50.server_coalesce=maybe: expected true or false"),
        (["resnet50.server_target_qps=fast"], "--param resnet50.server_target_qps=fast: expected a number"),
        (["input_len"], "--param 'input_len': expected KEY=VALUE"),
    ],
)
def test_bad_params_name_the_option_and_what_exists(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_plan([("llm_throughput", "offline"), ("resnet50", "Offline")], TINY, params=parse(*items))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_param_for_a_benchmark_left_out_is_checked_but_harmless() -> None:
    plan = build_plan([("llm_throughput", "offline")], TINY, params=parse("summarization.dataset=hf"))
    assert [g.name for g in plan] == ["llm_throughput"]
    with pytest.raises(ConfigError, match="summarization has no parameter 'datset'"):
        build_plan([("llm_throughput", "offline")], TINY, params=parse("summarization.datset=hf"))


def test_engine_args_go_over_the_profiles_and_into_every_group() -> None:
    plan = build_plan(LLM_AND_RN50, get_profile("llama3.1-8b"),
                      engine_args={"tensor_parallel_size": 2, "gpu_memory_utilization": 0.8})
    llm = next(g for g in plan if g.uses_llm)
    assert llm.engine == {**get_profile("llama3.1-8b").engine, "tensor_parallel_size": 2,
                          "gpu_memory_utilization": 0.8}


@pytest.mark.parametrize(
    ("text", "expected", "value"),
    [("3", int, 3), ("0.5", float, 0.5), ("off", bool, False), ("yes", bool, True), ("1,8,32", str, "1,8,32"),
     ("007", str, "007"), ("null", int | None, None), ("4", int | None, 4), ('{"a": 1}', dict, {"a": 1})],
)
def test_values_convert_to_the_field_type(text: str, expected: object, value: object) -> None:
    assert convert(text, expected, "where") == value
