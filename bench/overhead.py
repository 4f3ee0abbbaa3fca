"""An overhead run: the same benchmark groups under a baseline and a candidate variant, alternately, with repeats.

Shared by `bench overhead` and the pytest suite (`pytest -m overhead --candidate SPEC`):

    plan      the suite's plan (bench/suite.py `plan_run`): both sides get the same groups, parameters, token ids,
              images and seeds; only the variant (bench/variants.py) differs
    check     each variant is applied by the executor (`Executor.for_variant`: a key it cannot apply is an error) and
              the executor checks the comparison (`preflight_comparison`: a RuntimeClass the cluster lacks, a node
              without free GPUs) — all before anything runs; on Kubernetes both sides are pinned to one node
    order     per group, `repeats` runs of each side in seeded ABBA / BAAB blocks (`abba_order`), so drift over time
              (clocks warming, a neighbour starting) falls on both sides alike
    repeat    one repeat = one fresh workload process or Job, its own run directory under
              results/<run_id>/repeats/<run_id>.rNN-<variant>/ (results.json, logs, configs, manifests: a finished run
              `bench compare` reads as it is); model load and warm-up happen inside it, outside the measured region
    verdict   bench/results/compare.py over the repeats' run directories (Hodges–Lehmann + exact Moses interval per
              declared metric, bench/metrics/overhead.py); bench/results/overhead_report.py writes overhead.json,
              the summary.md table and the plots after every repeat, so Ctrl-C keeps every finished repeat
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.config import RunGroup
from bench.environment import throttled
from bench.errors import ConfigError
from bench.executors import Executor
from bench.executors.base import Echo
from bench.overrides import ParamOverrides
from bench.results.compare import Comparison as Verdicts
from bench.results.compare import NotComparable, Run, compare_runs
from bench.results.rundir import RunDirectory
from bench.results.schema import Result
from bench.suite import Choices, SuiteRun, plan_run
from bench.variants import Comparison, Variant
from bench.workloads import overhead_metrics

DEFAULT_REPEATS = {"smoke": 3, "full": 10}
SIDES = ("baseline", "candidate")


def abba_order(repeats: int, seed: int) -> list[str]:
    """`repeats` runs of each side in blocks of four, each block ABBA or BAAB as a seeded coin says; an odd
    `repeats` ends with one AB or BA pair. Both sides get the same number of early and late slots."""
    rng = random.Random(seed)
    order: list[str] = []
    for _ in range(repeats // 2):
        first, second = SIDES if rng.random() < 0.5 else SIDES[::-1]
        order += [first, second, second, first]
    if repeats % 2:
        order += list(SIDES if rng.random() < 0.5 else SIDES[::-1])
    return order


@dataclass
class Repeat:
    """One run of one side of one group: where it ran, what it measured, and what could make it unrepresentative."""

    order: int  # 1-based position in the group's ABBA order
    side: str  # baseline | candidate
    variant: str  # the side's variant name
    repeat: int  # 1-based count within the side
    group: str
    run_dir: str  # relative to the overhead run's directory
    started_at: str = ""
    duration_s: float = 0.0
    node: str | None = None
    gpu: dict[str, Any] = field(default_factory=dict)  # model, UUIDs, driver, clocks/temperature/throttling
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # benchmark/scenario -> declared metric values
    status: dict[str, str] = field(default_factory=dict)  # benchmark/scenario -> PASS/FAIL/ERROR/INVALID
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _status(result: Result) -> str:
    if result.error:
        return "ERROR"
    if result.metrics.get("result_valid") == 0:
        return "INVALID"
    return "PASS" if result.passed else "FAIL"


@dataclass
class OverheadRun:
    choices: Choices
    plan: list[RunGroup]
    run_dir: RunDirectory  # None until `attach`
    comparison: Comparison
    repeats: int
    executors: dict[str, Executor]  # side -> the executor applying that side's variant
    node: str | None = None
    echo: Echo = print
    max_overhead: float | None = None
    max_p99_delta_ms: float | None = None
    records: list[Repeat] = field(default_factory=list)
    verdicts: Verdicts | None = None
    refused: str | None = None  # "not comparable: ..." when the repeats measured different things
    _done: bool = False
    _subs: dict[str, RunDirectory] = field(default_factory=dict)  # one directory per ABBA position, all groups
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def check(cls, requested: Iterable[tuple[str, str]], choices: Choices, comparison: Comparison, *,
              size: str = "smoke", model: str | None = None, params: ParamOverrides | None = None,
              engine_args: dict[str, Any] | None = None, timeout_s: int | None = None, node: str | None = None,
              echo: Echo = print, max_overhead: float | None = None, max_p99_delta_ms: float | None = None
              ) -> OverheadRun:
        """Plan the comparison and check everything that can be wrong with it — the plan, the margins, each
        variant's keys against the executor, the cluster's RuntimeClasses and the node — before any directory
        exists or anything runs (a ConfigError naming the fix). `attach` gives it its run directory."""
        plan, _ = plan_run(requested, choices, size, model, params, engine_args, timeout_s)
        for name, value in (("--max-overhead", max_overhead), ("--max-p99-delta", max_p99_delta_ms)):
            if value is not None and value < 0:
                raise ConfigError(f"{name} must not be negative (a margin is how much worse the candidate may be)")
        if not plan:
            raise ConfigError("no benchmark selected to compare")
        variants = [comparison.baseline, comparison.candidate]
        for variant in variants:
            choices.executor.for_variant(variant)  # an unsupported key, before the cluster is asked anything
        pinned = choices.executor.preflight_comparison(plan, variants, node)
        executors = {side: choices.executor.for_variant(v, pinned) for side, v in zip(SIDES, variants, strict=True)}
        repeats = comparison.repeats or DEFAULT_REPEATS.get(size, 3)
        return cls(choices, plan, None, comparison, repeats, executors, pinned, echo, max_overhead,
                   max_p99_delta_ms)

    def attach(self, run_dir: RunDirectory) -> OverheadRun:
        """Run inside `run_dir` (the suite's, or one of its own): the header records the comparison."""
        self.run_dir = run_dir
        run_dir.header["comparison"] = {**self.comparison.to_dict(), "repeats": self.repeats, "node": self.node}
        run_dir.save()
        return self

    @classmethod
    def prepare(cls, requested: Iterable[tuple[str, str]], choices: Choices, results_root: Path,
                comparison: Comparison, *, size: str = "smoke", model: str | None = None,
                params: ParamOverrides | None = None, engine_args: dict[str, Any] | None = None,
                timeout_s: int | None = None, node: str | None = None, echo: Echo = print,
                run_id: str | None = None, max_overhead: float | None = None,
                max_p99_delta_ms: float | None = None, store_url: str | None = None) -> OverheadRun:
        """Checked, then given a run directory of its own (`bench overhead`): a bad comparison leaves none."""
        requested = list(requested)
        run = cls.check(requested, choices, comparison, size=size, model=model, params=params,
                        engine_args=engine_args, timeout_s=timeout_s, node=node, echo=echo,
                        max_overhead=max_overhead, max_p99_delta_ms=max_p99_delta_ms)
        suite = SuiteRun.prepare(requested, choices, results_root, size=size, model=model, params=params,
                                 engine_args=engine_args, timeout_s=timeout_s, echo=echo, run_id=run_id,
                                 store_url=store_url)
        return run.attach(suite.run_dir)

    # ---- what it prints before it runs -----------------------------------------------------------------------

    def lines(self) -> list[str]:
        c = self.comparison
        where = f", all on node {self.node}" if self.node else ""
        total = len(self.plan) * 2 * self.repeats
        return [
            f"baseline:  {c.baseline.describe()}",
            f"candidate: {c.candidate.describe()}",
            f"repeats:   {self.repeats} per side in seeded ABBA order (seed {c.seed}){where}; {total} workload runs "
            f"in all{' — A/A self-test' if c.aa else ''}",
        ]

    # ---- running ---------------------------------------------------------------------------------------------

    def run(self, cancel: threading.Event | None = None) -> Verdicts | None:
        """Every group's repeats, then the verdicts (None when the repeats are not comparable: `refused` says
        why). Once per run; on Ctrl-C (or `cancel`) the finished repeats are kept and KeyboardInterrupt goes on."""
        with self._lock:
            if self._done:
                return self.verdicts
            self._done = True
            order = abba_order(self.repeats, self.comparison.seed)
            try:
                for group in self.plan:
                    self._run_group(group, order, cancel)
            finally:
                self._evaluate()
            return self.verdicts

    def _run_group(self, group: RunGroup, order: list[str], cancel: threading.Event | None) -> None:
        counts = dict.fromkeys(SIDES, 0)
        for position, side in enumerate(order, start=1):
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt
            counts[side] += 1
            variant = self._variant(side)
            sub_id = f"{self.run_dir.run_id}.r{position:02d}-{variant.name}"
            sub = self._subs.get(sub_id) or RunDirectory.create(self.run_dir.path / "repeats", {
                **{k: v for k, v in self.run_dir.header.items() if k != "comparison"}, "run_id": sub_id,
                "variant": variant.describe(),
                "repeat": f"{side} {counts[side]} of {self.repeats} (position {position} of {len(order)})",
            }, run_id=sub_id, point_latest=False)
            self._subs[sub_id] = sub
            record = Repeat(position, side, variant.name, counts[side], group.name,
                            str(sub.path.relative_to(self.run_dir.path)),
                            started_at=datetime.now(UTC).isoformat(timespec="seconds"))
            self.echo(f"[overhead] {group.name}: run {position}/{len(order)} — {side} {counts[side]}/{self.repeats} "
                      f"({variant.describe()})")
            start = time.perf_counter()
            echo = _prefixed(self.echo, f"[{variant.name} {counts[side]}] ")
            try:
                results = self.executors[side].run(group, sub, echo, cancel=cancel)
            except KeyboardInterrupt:
                record.interrupted = True
                record.duration_s = round(time.perf_counter() - start, 1)
                self._keep(record, sub, sub.results)
                self.echo(f"[overhead] interrupted during run {position}: the {len(self.records) - 1} finished "
                          f"run(s) are kept in {self.run_dir.path / 'overhead.json'}")
                raise
            record.duration_s = round(time.perf_counter() - start, 1)
            self._keep(record, sub, results)
            shown = "; ".join(f"{k}: {', '.join(f'{m} = {v:.4g}' for m, v in vals.items()) or record.status[k]}"
                              for k, vals in record.values.items())
            self.echo(f"[overhead] run {position} {side} done in {record.duration_s:.0f} s: {shown}")

    def _variant(self, side: str) -> Variant:
        return self.comparison.baseline if side == "baseline" else self.comparison.candidate

    def _keep(self, record: Repeat, sub: RunDirectory, results: list[Result]) -> None:
        """Label the repeat's results with their variant, note where and on what it ran, and write every output."""
        for result in results:
            result.variant, result.repeat = record.variant, record.repeat
        if results:
            sub.add_results(results)
        for result in results:
            declared = overhead_metrics(result.benchmark).get(result.scenario) or result.thresholds  # timed, or scores
            record.values[result.key] = {m: result.metrics[m] for m in declared if m in result.metrics}
            record.status[result.key] = _status(result)
            env = result.environment or {}
            record.node = record.node or (env.get("kubernetes") or {}).get("node") or env.get("host")
            if env.get("gpu") and not record.gpu:
                record.gpu = {**env["gpu"], "state": env.get("gpu_state", [])}
                record.warnings += [f"GPU throttled after the measurement: {t}"
                                    for t in throttled(env.get("gpu_state", []))]
            if result.error:
                record.warnings.append(f"{result.key}: {result.error}")
        self.records.append(record)
        self._evaluate()

    def _evaluate(self) -> None:
        """Verdicts over the finished repeats (also partway: overhead.json is rewritten after every repeat)."""
        from bench.results.overhead_report import write_outputs

        finished: dict[str, dict[str, Any]] = {}  # repeat directory -> side and the keys it finished
        for record in self.records:
            if not record.interrupted:  # stopped partway: not a repeat
                entry = finished.setdefault(record.run_dir, {"side": record.side, "keys": set()})
                entry["keys"] |= set(record.status)
        sides: dict[str, list[Run]] = {side: [] for side in SIDES}
        for sub in self._subs.values():
            entry = finished.get(str(sub.path.relative_to(self.run_dir.path)))
            results = {r.key: r for r in sub.results if entry and r.key in entry["keys"]}
            if results:  # one run per ABBA position: every group's results of that position
                sides[entry["side"]].append(Run(sub.run_id, sub.path, results))
        self.verdicts, self.refused = None, None
        if sides["baseline"] and sides["candidate"]:
            try:
                self.verdicts = compare_runs(sides["baseline"], sides["candidate"],
                                             max_overhead=self.max_overhead, max_p99_delta_ms=self.max_p99_delta_ms)
            except NotComparable as exc:
                self.refused = str(exc)
        write_outputs(self)

    # ---- reading the outcome ---------------------------------------------------------------------------------

    @property
    def exit_code(self) -> int:
        """0 PASS, 1 FAIL, 3 INCONCLUSIVE, 2 not comparable."""
        if self.refused or self.verdicts is None:
            return 2 if self.refused else 3
        return self.verdicts.exit_code


def _prefixed(echo: Echo, prefix: str) -> Echo:
    return lambda line: echo(prefix + line)

