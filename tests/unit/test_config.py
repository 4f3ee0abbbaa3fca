"""Config validation: workload parameters, plans, profiles, models — errors name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import RunGroup, parse_params
from bench.errors import ConfigError
from bench.models import check_model
from bench.overrides import ParamOverrides
from bench.plan import build_plan
from bench.profiles import PROFILES, get_profile, select_gates
from bench.results.schema import Threshold
from bench.workloads.llm_throughput import Params

TINY = get_profile("tiny")


def test_params_defaults_and_values() -> None:
    params = parse_params(Params, {"num_prompts": 3, "input_len": 5}, "x")
    assert (params.num_prompts, params.input_len, params.output_len) == (3, 5, 64)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"num_prompts": -3}, "num_prompts must be ≥ 1, got -3"),
        ({"num_prompts": 0}, "num_prompts must be ≥ 1, got 0"),
        ({"warmup_prompts": -1}, "warmup_prompts must be ≥ 0, got -1"),
        ({"input_len": "12"}, "input_len must be an integer, got '12'"),
        ({"output_len": True}, "output_len must be an integer"),
        ({"prompts": 3}, "unknown parameter(s) prompts; allowed: num_prompts"),
    ],
)
def test_params_rejected_with_field_name(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^where: ") as exc:
        parse_params(Params, raw, "where")
    assert message in str(exc.value)


def test_plan_groups_llm_benchmarks_and_applies_sizes() -> None:
    plan = build_plan([("llm_throughput", "offline"), ("llm_throughput", "single")], TINY, "smoke")
    assert len(plan) == 1
    (group,) = plan
    assert group.name == "llm_throughput"
    assert [t.key for t in group.tasks] == ["llm_throughput/offline", "llm_throughput/single"]
    assert group.tasks[0].params == TINY.sizes["llm_throughput"]["smoke"]
    assert group.notes and "not model quality" in group.notes[0]
    full = build_plan([("llm_throughput", "offline")], TINY, "full")[0]
    assert full.tasks[0].params["num_prompts"] == TINY.sizes["llm_throughput"]["full"]["num_prompts"]


def test_plan_overrides_and_duplicates() -> None:
    plan = build_plan([("llm_throughput", "offline")] * 2, TINY, params=ParamOverrides(everywhere={"num_prompts": "7"}))
    (task,) = plan[0].tasks
    assert task.params["num_prompts"] == 7
    assert task.params["input_len"] == TINY.sizes["llm_throughput"]["smoke"]["input_len"]


@pytest.mark.parametrize(
    ("requested", "kwargs", "message"),
    [
        ([("nope", "offline")], {}, "unknown benchmark 'nope': choose one of llm_throughput"),
        ([("llm_throughput", "server")], {}, "unknown scenario 'server' for llm_throughput: choose one of offline"),
        ([("llm_throughput", "offline")], {"size": "huge"}, "unknown size 'huge'"),
        ([("llm_throughput", "offline")], {"timeout_s": 0}, "timeout must be ≥ 1 second"),
        ([("llm_throughput", "offline")], {"params": ParamOverrides({"num_prompts": "-1"})}, "num_prompts must be ≥ 1"),
        ([("llm_throughput", "offline")], {"model": "/no/such/model"}, "model path /no/such/model does not exist"),
    ],
)
def test_plan_rejects_bad_requests(requested: list, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build_plan(requested, TINY, **kwargs)
    assert message in str(exc.value)


def test_unknown_profile_lists_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile .foo.: choose one of tiny, llama3\.1-8b"):
        get_profile("foo")


def test_model_checks(tmp_path: Path) -> None:
    check_model("builtin:tiny-llama")
    check_model("meta-llama/Llama-3.1-8B-Instruct")  # a hub id is checked by the engine, not here
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        check_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    check_model(str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        check_model("./relative/missing")


def test_run_group_round_trip(tmp_path: Path) -> None:
    group = build_plan([("llm_throughput", "offline")], get_profile("llama3.1-8b"))[0]
    group.write(tmp_path / "g.json")
    again = RunGroup.read(tmp_path / "g.json")
    assert again == group
    assert again.tasks[0].thresholds["H100"]["output_tokens_per_s"] == Threshold(">=", 1500.0)


def test_run_group_read_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        RunGroup.read(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunGroup.read(tmp_path / "bad.json")
    (tmp_path / "odd.json").write_text('{"name": "x"}')
    with pytest.raises(ConfigError, match="malformed"):
        RunGroup.read(tmp_path / "odd.json")


def test_gates_per_gpu_type() -> None:
    table = PROFILES["llama3.1-8b"].threshold_table("llm_throughput", "offline")
    assert select_gates(table, "NVIDIA H100 80GB HBM3")["output_tokens_per_s"].value == 1500.0
    assert select_gates(table, "NVIDIA A30")["output_tokens_per_s"].value == 300.0
    assert select_gates(table, "Tesla T4")["output_tokens_per_s"] == Threshold(">", 0.0)
    assert select_gates(table, None)["output_tokens_per_s"] == Threshold(">", 0.0)


def test_every_profile_covers_every_registered_benchmark() -> None:
    from bench.workloads import BENCHMARKS

    for profile in PROFILES.values():
        for name, info in BENCHMARKS.items():
            for size in ("smoke", "full"):
                assert profile.params_for(name, size), f"{profile.name} has no {size} sizes for {name}"
            for scenario in info.scenarios:
                assert profile.threshold_table(name, scenario), f"{profile.name}: no gates for {name}/{scenario}"
