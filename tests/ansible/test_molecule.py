"""Each Molecule scenario, full sequence: create -> prepare -> converge -> idempotence -> verify -> destroy."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.ansible._support import REPO, tool, tool_env

SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, podman: str, record_property: pytest.RecordProperty) -> None:
    molecule = tool("molecule")
    started = time.monotonic()
    proc = subprocess.run(
        [molecule, "test", "-s", scenario],
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    elapsed = time.monotonic() - started
    record_property(f"molecule_{scenario}_seconds", round(elapsed, 1))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-20000:]
    assert "idempotence: Executed: Successful" in output, output[-20000:]
    assert "verify: Executed: Successful" in output, output[-20000:]
