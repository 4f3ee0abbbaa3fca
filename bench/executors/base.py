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
from typing import TYPE_CHECKING

from bench.config import RunGroup
from bench.errors import ConfigError
from bench.results.rundir import RunDirectory
from bench.results.schema import Result

Echo = Callable[[str], None]

if TYPE_CHECKING:
    from bench.variants import Variant


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

    # ---- overhead comparisons (bench/overhead.py) --------------------------------------------------------------

    supported_variant_keys: tuple[str, ...] = ()  # Variant.used_keys() this executor can apply

    def for_variant(self, variant: Variant, node: str | None = None) -> Executor:
        """A copy of this executor that runs workloads as `variant` says (on `node`, where the executor places
        work on nodes). A key this executor cannot apply is a ConfigError naming it; no variant keys → `self`."""
        unsupported = [k for k in variant.used_keys() if k not in self.supported_variant_keys]
        if unsupported:
            can = ", ".join(self.supported_variant_keys) or "none"
            raise ConfigError(f"variant {variant.name}: {', '.join(unsupported)} cannot be applied by the "
                              f"{self.name} executor (it applies: {can})")
        return self._with_variant(variant, node)

    def _with_variant(self, variant: Variant, node: str | None) -> Executor:
        return self

    def preflight_comparison(self, plan: list[RunGroup], variants: list[Variant], node: str | None) -> str | None:
        """Checks a comparison needs beyond `preflight` (raise ConfigError): e.g. that a variant's RuntimeClass
        exists on the cluster, that `node` (or the node picked here) has the GPUs. Returns the node both variants
        will run on, or None where the executor has no nodes to choose (local)."""
        if node is not None:
            raise ConfigError(f"--node applies to the kubernetes executor, not to the {self.name} executor")
        return None


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
