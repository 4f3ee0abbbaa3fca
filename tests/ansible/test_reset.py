"""playbooks/reset.yml refuses to run without confirmation, before it touches any host.

The example inventory's hosts are documentation addresses (192.0.2.0/24, RFC 5737): the refusal must come from the
confirmation play on the controller, with no connection attempted. The confirmed reset itself runs in the Molecule
cluster scenario (molecule/cluster/reset.yml, verify_reset.yml).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.ansible._support import REPO, tool, tool_env


@pytest.mark.parametrize(
    ("extra", "answer"),
    [([], "no"), (["-e", "reset_confirmation=no"], "no"), (["-e", "reset_confirmation=YES"], "YES")],
    ids=["no_answer_non_interactive", "answered_no", "not_exactly_yes"],
)
def test_reset_without_confirmation_changes_nothing(extra: list[str], answer: str) -> None:
    proc = subprocess.run(
        [tool("ansible-playbook"), "-i", str(REPO / "inventory/example/hosts.yml"), str(REPO / "playbooks/reset.yml"),
         *extra],
        cwd=REPO, env=tool_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False,
    )
    output = proc.stdout + proc.stderr
    flat = " ".join(output.split())
    assert proc.returncode != 0, output
    assert f"Reset not confirmed (reset_confirmation={answer}); nothing was changed." in flat, output
    assert "Reset | kubeadm reset" not in output and "Reset the nodes" not in output, output
    recaps = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)", output, flags=re.M)
    assert recaps, output
    assert all(changed == "0" and unreachable == "0" for _, _, changed, unreachable in recaps), output
