"""ansible-lint (production profile) and --syntax-check of every playbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ansible._support import REPO, run_tool

PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))


def test_ansible_lint_production_reports_nothing() -> None:
    proc = run_tool("ansible-lint", "--profile", "production", "--nocolor", timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "0 failure(s), 0 warning(s)" in output, output


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_playbook_syntax(playbook: Path) -> None:
    proc = run_tool(
        "ansible-playbook", "--syntax-check", "-i", str(REPO / "inventory/example/hosts.yml"), str(playbook),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_role_has_argument_specs() -> None:
    roles = [p for p in (REPO / "roles").iterdir() if p.is_dir()]
    assert roles
    missing = [r.name for r in roles if not (r / "meta/argument_specs.yml").is_file()]
    assert missing == []
