"""The run directory contract: results/<run_id>/{results.json, summary.md, logs/, manifests/, junit.xml} and
results/latest → the newest run. results.json and summary.md are rewritten after every group, so an interrupted run
keeps what finished. Groups that run at the same time (threads) add their results through one lock, so neither file
loses a result.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.results.schema import Result
from bench.results.summary import render_summary


def new_run_id() -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class RunDirectory:
    path: Path
    header: dict[str, Any] = field(default_factory=dict)  # profile, executor, engine, device: shown in summary.md
    results: list[Result] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)  # extra summary.md sections (title -> markdown)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)

    @staticmethod
    def path_for(root: Path, run_id: str) -> Path:
        """Where `create(root, run_id=run_id)` puts the run: known before it exists (pytest's header, junit.xml)."""
        return root.expanduser().resolve() / run_id

    @classmethod
    def create(cls, root: Path, header: dict[str, Any] | None = None, run_id: str | None = None,
               point_latest: bool = True) -> RunDirectory:
        """A new run directory under `root`; `point_latest`: make `root/latest` point at it (not for the repeats
        of an overhead run, which live inside their run's directory)."""
        path = cls.path_for(root, run_id or new_run_id())
        for sub in ("logs", "manifests"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        run = cls(path=path, header=dict(header or {}))
        run.header.setdefault("run_id", path.name)
        if point_latest:
            run._point_latest()
        run.save()
        return run

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def manifests(self) -> Path:
        return self.path / "manifests"

    @property
    def junit(self) -> Path:
        return self.path / "junit.xml"

    def add_results(self, results: list[Result]) -> None:
        keys = {r.key for r in results}
        with self._lock:
            self.results = [r for r in self.results if r.key not in keys] + list(results)
            self.save()

    def set_section(self, title: str, markdown: str) -> None:
        """Add (or replace) a section of summary.md, e.g. the overhead verdicts, and rewrite it."""
        with self._lock:
            self.sections[title] = markdown
            self.save()

    def result(self, key: str) -> Result | None:
        return next((r for r in self.results if r.key == key), None)

    def save(self) -> None:
        with self._lock:
            results = list(self.results)
            atomic_write(self.path / "results.json", json.dumps([r.to_dict() for r in results], indent=2) + "\n")
            atomic_write(self.path / "summary.md", render_summary(self.header, results, self.sections))

    def _point_latest(self) -> None:
        latest = self.path.parent / "latest"
        tmp = self.path.parent / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.path.name)
        os.replace(tmp, latest)


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load_results(run_path: Path) -> list[Result]:
    return [Result.from_dict(d) for d in json.loads((run_path / "results.json").read_text())]
