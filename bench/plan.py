"""Turn a request (benchmarks × scenarios, profile, size, overrides) into RunGroups, validated before anything runs.

Benchmarks that use the profile's LLM share one group, so one process (or one Job) loads the model once for all
of them. A benchmark that brings its own model gets a group of its own. The serving benchmark's scenarios share a
group of their own too: one server per model per run (started by the executor, or `endpoint` given), never beside
the in-process LLM (on a GPU the two would not fit).

Overrides: `params` (`--param`, typed per benchmark) go over the profile's sizes; `engine_args` (`--engine-arg`) go
over the profile's engine arguments. A model directory without weight files (`bench build-model --shape ...`) runs
with `load_format=dummy` (random weights of the real shape); with random weights the accuracy benchmarks' quality
gates give way to their validity gates, every result says so, and the speed gates apply as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.config import RunGroup, Task, parse_params
from bench.errors import ConfigError
from bench.models import check_model, has_weights, looks_like_path
from bench.models.tiny import TINY_MODEL_ID
from bench.overrides import ParamOverrides
from bench.profiles import SIZE_CLASSES, Profile
from bench.workloads import check_scenario, get_benchmark

DUMMY = "dummy"


def build_plan(
    requested: Iterable[tuple[str, str]],
    profile: Profile,
    size: str = "smoke",
    model: str | None = None,
    params: ParamOverrides | None = None,
    engine_args: dict[str, Any] | None = None,
    timeout_s: int | None = None,
    endpoint: str | None = None,
    served_model: str | None = None,
) -> list[RunGroup]:
    if size not in SIZE_CLASSES:
        raise ConfigError(f"unknown size {size!r}: choose one of {', '.join(SIZE_CLASSES)}")
    if timeout_s is not None and timeout_s < 1:
        raise ConfigError(f"timeout must be ≥ 1 second, got {timeout_s}")
    requested = list(requested)
    model = model or profile.model
    params = params or ParamOverrides()
    for benchmark, scenario in requested:
        check_scenario(get_benchmark(benchmark), scenario)
    params.check(lambda b: get_benchmark(b).load().Params, dict.fromkeys(b for b, _ in requested))
    engines = {get_benchmark(b).engine for b, _ in requested}
    if served_model is not None and endpoint is None:
        raise ConfigError("--served-model names the model of an existing server: give its --endpoint URL too")
    if endpoint is not None and "server" not in engines:
        raise ConfigError("--endpoint applies to the serving benchmark: add it to the run (e.g. `bench run "
                          "serving --endpoint URL`, `pytest -m smoke -k serving --endpoint URL`)")
    needs_llm = "llm" in engines or "server" in engines
    if needs_llm:
        check_model(model)
    engine, weights, weight_notes = _engine_and_weights(profile, model, engine_args or {}, needs_llm)
    random_weights = weights is not None

    groups: dict[str, list[Task]] = {}
    for benchmark, scenario in requested:
        info = get_benchmark(benchmark)
        cls = info.load().Params
        values = {**profile.params_for(benchmark, size), **params.for_benchmark(benchmark, cls)}
        parse_params(cls, values, f"{benchmark}/{scenario}")  # fail now, not in the pod
        llm = info.engine in ("llm", "server")
        task = Task(benchmark, scenario, values, profile.threshold_table(benchmark, scenario, llm and random_weights))
        group_key = {"llm": "llm", "server": "serving"}.get(info.engine, benchmark)
        if any(t.key == task.key for t in groups.get(group_key, [])):
            continue
        groups.setdefault(group_key, []).append(task)
    plan = []
    for key, tasks in groups.items():
        llm = key in ("llm", "serving")
        serving = key == "serving"
        name = "+".join(sorted({t.benchmark for t in tasks}))
        notes = list(profile.notes) if model == profile.model else []
        plan.append(
            RunGroup(
                name=name, profile=profile.name, model=model, engine=dict(engine), tasks=tasks, size=size,
                notes=notes + (weight_notes if llm else []),
                claims_quality=profile.claims_quality and model == profile.model and not (llm and random_weights),
                timeout_s=timeout_s or profile.timeout_s.get(size, 3600),
                weights=weights if llm else None,
                endpoint=endpoint if serving else None,
                served_model=(served_model if endpoint else served_name(model)) if serving else None,
            )
        )
    return plan


def served_name(model: str) -> str:
    """The name a server the suite starts serves `model` under: the Hub id, the directory's name, `tiny-llama`."""
    if model == TINY_MODEL_ID:
        return model.split(":", 1)[1]
    return Path(model).name if looks_like_path(model) else model


def _engine_and_weights(profile: Profile, model: str, engine_args: dict[str, Any], needs_llm: bool,
                        ) -> tuple[dict[str, Any], str | None, list[str]]:
    """The engine arguments (profile's, then the command line's), and — when the LLM's weights are random — what
    to record about that (None: the checkpoint's own weights) with the notes every result carries."""
    engine = {**profile.engine, **engine_args}
    if not needs_llm:
        return engine, None, []
    if model == TINY_MODEL_ID:
        return engine, "random (the tiny model is built with seeded random weights)", []
    auto = (looks_like_path(model) and "load_format" not in engine_args and not has_weights(model))
    if auto:
        engine["load_format"] = DUMMY
    if engine.get("load_format") != DUMMY:
        return engine, None, []
    why = f"{model} has no weight files" if auto else "--engine-arg load_format=dummy"
    return engine, f"random (vLLM load_format=dummy; {why})", [
        f"random weights ({why}): the real architecture with random values — throughput and latency are real, "
        f"output text is not; quality gates (ROUGE-L, MMLU-Pro accuracy) are not applicable and the accuracy "
        f"benchmarks only check that their scores are produced in range; speed gates apply",
    ]
