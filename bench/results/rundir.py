"""The run directory contract: results/<run_id>/{run.json, results.json, summary.md, logs/, manifests/, junit.xml,
report.html} and results/latest → the newest run. run.json (who, when, from which commit: bench/results/provenance.py
and the header), results.json and summary.md are rewritten after every group, so an interrupted run keeps what
finished; after each write the results store (when one is attached) indexes the run. Groups that run at the same
time (threads) add their results through one lock, so no file loses a result.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.results.provenance import now, run_meta
from bench.results.schema import Result
from bench.results.summary import render_summary

RUN_FILE = "run.json"


def new_run_id() -> str:
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


@dataclass
class RunDirectory:
    path: Path
    header: dict[str, Any] = field(default_factory=dict)  # profile, executor, engine, device: shown in summary.md
    results: list[Result] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)  # extra summary.md sections (title -> markdown)
    meta: dict[str, Any] = field(default_factory=dict)  # run.json: run_id, times, trigger, git, version, tags
    sink: Callable[[RunDirectory], None] | None = None  # called after every save (the results store), never raises
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)

    @staticmethod
    def path_for(root: Path, run_id: str) -> Path:
        """Where `create(root, run_id=run_id)` puts the run: known before it exists (pytest's header, junit.xml)."""
        return root.expanduser().resolve() / run_id

    @classmethod
    def create(cls, root: Path, header: dict[str, Any] | None = None, run_id: str | None = None,
               point_latest: bool = True, trigger: str = "cli",
               sink: Callable[[RunDirectory], None] | None = None, tags: dict[str, str] | None = None
               ) -> RunDirectory:
        """A new run directory under `root`; `point_latest`: make `root/latest` point at it (not for the repeats
        of an overhead run, which live inside their run's directory); `trigger`: what started it (cli, pytest;
        KCLOUD_TRIGGER wins); `sink`: told after every save (the results store); `tags`: free labels (`--tag`)."""
        path = cls.path_for(root, run_id or new_run_id())
        for sub in ("logs", "manifests"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        run = cls(path=path, header=dict(header or {}), meta=run_meta(path.name, trigger, tags), sink=sink)
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

    def finish(self) -> None:
        """The run has ended: record the time in run.json (the store sees it too)."""
        with self._lock:
            self.meta["finished_at"] = now()
            self.save()

    def save(self) -> None:
        with self._lock:
            results = list(self.results)
            atomic_write(self.path / RUN_FILE, json.dumps({**self.meta, "header": self.header}, indent=2,
                                                          default=str) + "\n")
            atomic_write(self.path / "results.json", json.dumps([r.to_dict() for r in results], indent=2) + "\n")
            atomic_write(self.path / "summary.md", render_summary(self.header, results, self.sections))
            if self.sink is not None:
                self.sink(self)

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


def load_meta(run_path: Path) -> dict[str, Any]:
    """run.json, or what a run directory from before run.json existed gives: its id and its first result's start."""
    file = run_path / RUN_FILE
    if file.is_file():
        return json.loads(file.read_text())
    results = load_results(run_path) if (run_path / "results.json").is_file() else []
    started = min((r.started_at for r in results if r.started_at), default=None)
    return {"run_id": run_path.name, "started_at": started, "finished_at": None, "trigger": None,
            "git": {"commit": None, "dirty": None}, "harness_version": None, "tags": {}, "header": {}}
