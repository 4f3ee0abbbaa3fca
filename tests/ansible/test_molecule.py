"""Each Molecule scenario, full sequence: create -> prepare -> converge -> idempotence -> verify -> destroy."""

from __future__ import annotations

import time

import pytest

from tests.ansible._support import REPO, run_tool

SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, podman: str, record_property: pytest.RecordProperty) -> None:
    started = time.monotonic()
    proc = run_tool("molecule", "test", "-s", scenario, timeout=1200)
    elapsed = time.monotonic() - started
    record_property(f"molecule_{scenario}_seconds", round(elapsed, 1))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-20000:]
    assert "idempotence: Executed: Successful" in output, output[-20000:]
    assert "verify: Executed: Successful" in output, output[-20000:]
