"""Where a run came from, for run.json and the store: the trigger (cli, pytest, scheduled), the harness's git commit
and dirty flag (when it runs from a checkout; a pod running the packaged harness has none), its version."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

TRIGGERS = ("cli", "pytest", "scheduled")
CHECKOUT = Path(__file__).resolve().parents[2]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_info(root: Path = CHECKOUT) -> dict[str, Any]:
    """{"commit": sha or None, "dirty": bool or None}; None where the harness does not run from a git checkout."""
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(status.strip())}


def harness_version() -> str:
    try:
        return metadata.version("kcloud-mlperf")
    except metadata.PackageNotFoundError:
        return "unknown"


def trigger(default: str) -> str:
    """KCLOUD_TRIGGER (the scheduled runner sets `scheduled`) over what started the run (cli, pytest)."""
    chosen = os.environ.get("KCLOUD_TRIGGER") or default
    return chosen if chosen in TRIGGERS else default


def run_meta(run_id: str, trigger_default: str = "cli", tags: dict[str, str] | None = None) -> dict[str, Any]:
    """The run.json fields known when a run starts; `finished_at` is filled in at its end."""
    return {"run_id": run_id, "started_at": now(), "finished_at": None, "trigger": trigger(trigger_default),
            "git": git_info(), "harness_version": harness_version(), "tags": dict(tags or {})}
