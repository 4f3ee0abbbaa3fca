"""Helpers for the Ansible tests: tool discovery and the skip-or-fail policy (fail in CI, skip locally)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_IMAGE = os.environ.get("KCLOUD_NODE_IMAGE", "localhost/kcloud-debian12-node:latest")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a missing tool must not turn CI green."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is a failure; run scripts/setup-ansible.sh)")
    pytest.skip(reason)


def tool(name: str) -> str:
    """Path of a console script, preferring the running interpreter's venv."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        missing(f"{name} is not installed (pip install the project's `ansible` extra)")
    assert found is not None
    return found


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["NO_COLOR"] = "1"
    env["PY_COLORS"] = "0"
    return env


def run_tool(name: str, *args: str, timeout: int, merge_stderr: bool = False) -> subprocess.CompletedProcess[str]:
    """Run an Ansible tool from the repository root with the tests' environment; never raises on exit codes.

    merge_stderr: one stream in the order it was written (stderr is then ""), e.g. Molecule's action log lines
    (stderr) around the ansible-playbook output of each action (stdout).
    """
    proc = subprocess.run(
        [tool(name), *args],
        cwd=REPO,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.stderr is None:
        proc.stderr = ""
    return proc
