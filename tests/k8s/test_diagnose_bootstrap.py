"""Diagnoses from status dicts the way the API server reports them (eviction and node loss end to end through the
stand-in: test_node_faults.py), and `bench bootstrap` saying what it needs (its playbook run: test_bootstrap.py)."""

from __future__ import annotations

import builtins
import subprocess
import sys
from pathlib import Path

import pytest

from bench.bootstrap import bootstrap, fetched_kubeconfig
from bench.errors import BenchError
from bench.executors.k8s_diagnose import describe_node_loss, diagnose_job, diagnose_pod

ROOT = Path(__file__).resolve().parents[2]


def pod(status: dict, **spec) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "bench", "resources": {
        "limits": {"nvidia.com/gpu": "1", "memory": "32Gi"}}}], **spec}, "status": status}


def test_evicted() -> None:
    d = diagnose_pod(pod({"phase": "Failed", "reason": "Evicted",
                          "message": "The node was low on resource: ephemeral-storage."}), 0, 60, 30)
    assert d and d.fatal and d.message == ("pod evicted by the kubelet: The node was low on resource: "
                                           "ephemeral-storage.")


def test_node_lost_by_taint_manager() -> None:
    d = diagnose_pod(pod({"phase": "Running", "conditions": [{
        "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint"}]}), 0, 60, 30)
    assert d and d.kind == "node-lost" and d.message.startswith("node lost: the node became unreachable")


def test_node_not_ready() -> None:
    node = {"metadata": {"name": "gpu1"}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting"}]}}
    assert describe_node_loss(node) == ("node lost: gpu1 is not ready (NodeStatusUnknown: Kubelet stopped posting)")


def test_unschedulable_waits_for_grace_then_is_fatal() -> None:
    p = pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}]})
    early, late = diagnose_pod(p, 5, 60, 30), diagnose_pod(p, 61, 60, 30)
    assert early and not early.fatal and late and late.fatal
    assert late.message.startswith("unschedulable: not enough free nvidia.com/gpu (the pod requests 1 nvidia.com/gpu)")


def test_no_node_matches_selector_wording() -> None:
    p = pod({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."}]},
            nodeSelector={"gpu": "a30"})
    assert diagnose_pod(p, 0, 60, 30).message.startswith("unschedulable: no node matches the nodeSelector gpu=a30")


def test_deadline_from_job_condition() -> None:
    job = {"spec": {"activeDeadlineSeconds": 60}, "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]}}
    assert diagnose_job(job).message.startswith("deadline exceeded: the Job ran longer than activeDeadlineSeconds=60")


def test_bootstrap_needs_an_inventory(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"inventory .* does not exist: copy inventory/example"):
        bootstrap(tmp_path / "nope.yml")


def test_bootstrap_says_it_needs_ansible_runner(monkeypatch, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    real_import = builtins.__import__

    def no_runner(name, *args, **kwargs):
        if name == "ansible_runner":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_runner)
    monkeypatch.chdir(ROOT)
    if not (ROOT / "playbooks" / "site.yml").exists():
        pytest.skip("the provisioning playbooks are not in this checkout yet")
    with pytest.raises(BenchError, match="needs ansible-runner and Ansible on this machine: pip install"):
        bootstrap(inventory)


def test_bootstrap_cli_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "bench", "bootstrap", "--inventory", str(tmp_path / "x.yml")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "does not exist" in out.stderr


def test_fetched_kubeconfig_default_is_next_to_the_inventory(tmp_path: Path) -> None:
    inventory = tmp_path / "site" / "hosts.yml"
    inventory.parent.mkdir()
    inventory.write_text("all: {}\n")
    assert fetched_kubeconfig(inventory) == tmp_path / "site" / "artifacts" / "admin.conf"
