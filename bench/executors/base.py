"""An executor runs a RunGroup somewhere (a local process, a Kubernetes Job) and returns one Result per task.

Executors never import workloads: they run the entry point `python -m bench.run` and read the results it writes.
Whatever goes wrong (crash, timeout, Ctrl-C), every task of the group comes back as a Result; tasks that did not
finish carry a one-line `error`.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from bench.config import RunGroup
from bench.results.rundir import RunDirectory
from bench.results.schema import Result

Echo = Callable[[str], None]


class Executor(ABC):
    name: str

    @property
    def max_parallel_groups(self) -> int:
        """How many groups this executor can run at the same time (one machine: one)."""
        return 1

    @abstractmethod
    def run(self, group: RunGroup, run_dir: RunDirectory, echo: Echo = print,
            cancel: threading.Event | None = None) -> list[Result]:
        """Run every task of `group`.

        On Ctrl-C — or when `cancel` is set, which is how a caller running groups in threads passes a Ctrl-C on —
        stop the workload, record a result for every task in `run_dir`, then raise KeyboardInterrupt.
        """

    def describe(self) -> str:
        return self.name

    def preflight(self, plan: list[RunGroup]) -> list[str]:
        """Problems this executor can see before anything runs (raise ConfigError naming the fix), and notes for the
        header. Nothing is submitted or started here."""
        return []


def complete_results(group: RunGroup, output: Path, reason: str | None) -> list[Result]:
    """The results the entry point wrote, plus a failed Result (with `reason`) for each task it did not finish."""
    finished: dict[str, Result] = {}
    try:
        for item in json.loads(output.read_text()):
            result = Result.from_dict(item)
            finished[result.key] = result
    except (OSError, ValueError):
        pass
    missing_reason = reason or "the workload process ended without writing this result"
    return [
        finished.get(task.key)
        or Result.failure(task.benchmark, task.scenario, group.profile, missing_reason,
                          config={"model": group.model, "size": group.size, **task.params})
        for task in group.tasks
    ]
