"""ansible-lint (production profile) and --syntax-check of every playbook."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ansible._support import REPO, tool, tool_env

PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))


def test_ansible_lint_production_reports_nothing() -> None:
    lint = tool("ansible-lint")
    proc = subprocess.run(
        [lint, "--profile", "production", "--nocolor"],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 failure(s), 0 warning(s)" in output, output


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_playbook_syntax(playbook: Path) -> None:
    ansible_playbook = tool("ansible-playbook")
    proc = subprocess.run(
        [ansible_playbook, "--syntax-check", "-i", str(REPO / "inventory/example/hosts.yml"), str(playbook)],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_role_has_argument_specs() -> None:
    roles = [p for p in (REPO / "roles").iterdir() if p.is_dir()]
    assert roles
    missing = [r.name for r in roles if not (r / "meta/argument_specs.yml").is_file()]
    assert missing == []
