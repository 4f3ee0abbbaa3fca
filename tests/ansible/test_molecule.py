"""Each Molecule scenario, full sequence: create -> prepare -> converge -> idempotence -> [side_effect] -> verify."""

from __future__ import annotations

import re
import time

import pytest

from tests.ansible._support import REPO, run_tool

SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))
# Hosts that must report changed=0 when the scenario's side effect runs site.yml again (the cluster scenario adds
# a worker: the nodes that had joined are left alone).
UNCHANGED_BY_SIDE_EFFECT = {"cluster": ("kcloud-gpu1", "kcloud-gpu2")}


def side_effect_changes(output: str, scenario: str) -> dict[str, int]:
    """host -> changed count from the PLAY RECAP of the side_effect action."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    action = rf"{scenario}\s*(?:>|➜)\s*side_effect\]?:?\s*"
    section = re.search(rf"{action}Executing(.*?){action}Executed", plain, flags=re.S)
    assert section, "no side_effect section in the output"
    recap = re.findall(r"^\W*([\w.-]+)\s+: ok=\d+\s+changed=(\d+)", section.group(1), flags=re.M)
    return {host: int(changed) for host, changed in recap}


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, podman: str, record_property: pytest.RecordProperty) -> None:
    started = time.monotonic()
    proc = run_tool("molecule", "test", "-s", scenario, timeout=1800, merge_stderr=True)
    elapsed = time.monotonic() - started
    record_property(f"molecule_{scenario}_seconds", round(elapsed, 1))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-20000:]
    assert "idempotence: Executed: Successful" in output, output[-20000:]
    assert "verify: Executed: Successful" in output, output[-20000:]
    if (REPO / "molecule" / scenario / "side_effect.yml").is_file():
        assert "side_effect: Executed: Successful" in output, output[-20000:]
        changes = side_effect_changes(output, scenario)
        for host in UNCHANGED_BY_SIDE_EFFECT.get(scenario, ()):
            assert changes.get(host) == 0, f"{host} changed in the side effect: {changes}"
