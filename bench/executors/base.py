"""An executor runs a RunGroup somewhere (a local process, a Kubernetes Job) and returns one Result per task.

Executors never import workloads: they run the entry point `python -m bench.run` and read the results it writes.
Whatever goes wrong (crash, timeout, Ctrl-C), every task of the group comes back as a Result; tasks that did not
finish carry a one-line `error`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from bench.config import RunGroup
from bench.results.rundir import RunDirectory
from bench.results.schema import Result

Echo = Callable[[str], None]


class Executor(ABC):
    name: str

    @abstractmethod
    def run(self, group: RunGroup, run_dir: RunDirectory, echo: Echo = print) -> list[Result]:
        """Run every task of `group`; raise KeyboardInterrupt only after cleaning up and recording results."""

    def describe(self) -> str:
        return self.name


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
