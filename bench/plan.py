"""Turn a request (benchmarks × scenarios, profile, size, overrides) into RunGroups, validated before anything runs.

Benchmarks that use the profile's LLM share one group, so one process (or one Job) loads the model once for all
of them. A benchmark that brings its own model gets a group of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench.config import RunGroup, Task, parse_params
from bench.errors import ConfigError
from bench.models import check_model
from bench.profiles import SIZE_CLASSES, Profile
from bench.workloads import check_scenario, get_benchmark


def build_plan(
    requested: Iterable[tuple[str, str]],
    profile: Profile,
    size: str = "smoke",
    model: str | None = None,
    overrides: dict[str, Any] | None = None,
    timeout_s: int | None = None,
) -> list[RunGroup]:
    if size not in SIZE_CLASSES:
        raise ConfigError(f"unknown size {size!r}: choose one of {', '.join(SIZE_CLASSES)}")
    if timeout_s is not None and timeout_s < 1:
        raise ConfigError(f"timeout must be ≥ 1 second, got {timeout_s}")
    model = model or profile.model
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    groups: dict[str, list[Task]] = {}
    needs_llm = False
    for benchmark, scenario in requested:
        info = get_benchmark(benchmark)
        check_scenario(info, scenario)
        params = {**profile.params_for(benchmark, size), **overrides}
        parse_params(info.load().Params, params, f"{benchmark}/{scenario}")  # fail now, not in the pod
        task = Task(benchmark, scenario, params, profile.threshold_table(benchmark, scenario))
        group_key = "llm" if info.engine == "llm" else benchmark
        needs_llm |= info.engine == "llm"
        if any(t.key == task.key for t in groups.get(group_key, [])):
            continue
        groups.setdefault(group_key, []).append(task)
    if needs_llm:
        check_model(model)
    plan = []
    for tasks in groups.values():
        name = "+".join(sorted({t.benchmark for t in tasks}))
        plan.append(
            RunGroup(
                name=name, profile=profile.name, model=model, engine=dict(profile.engine), tasks=tasks, size=size,
                notes=list(profile.notes) if model == profile.model else [],
                claims_quality=profile.claims_quality and model == profile.model,
                timeout_s=timeout_s or profile.timeout_s.get(size, 3600),
            )
        )
    return plan
