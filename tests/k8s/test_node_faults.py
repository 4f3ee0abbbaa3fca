"""Eviction and node loss end to end: the stand-in plays what a real cluster shows (pod statuses, node conditions and
taints, pods stuck Terminating on a dead node), the executor ends with the diagnosis, keeps finished results and
leaves no Job behind."""

from __future__ import annotations

import time

import pytest

from .conftest import NAMESPACE
from .standin_apiserver import StandInAPIServer
from .test_executor import _when_running, assert_nothing_left, run_mode

DIAGNOSIS_BOUND_S = 30.0  # generous: the executor notices within a watch window (poll_s=0.5 here) plus a short drain


def _the_pod(cluster: StandInAPIServer) -> str:
    return cluster.items("pods", NAMESPACE)[0]["metadata"]["name"]


def test_evicted_pod(cluster, k8s_config, run_dir) -> None:
    lines: list[str] = []
    _when_running(cluster, lines, lambda: cluster.evict_pod(NAMESPACE, _the_pod(cluster)))
    results = run_mode("hang", k8s_config, run_dir, lines)
    print("DIAGNOSIS evicted:", results[1].error)
    assert results[0].passed  # its BENCH_RESULT line arrived before the eviction
    assert results[1].error == (
        "pod evicted by the kubelet: The node was low on resource: memory. Threshold quantity: 100Mi, available: "
        "42Mi. Container bench was using 1536Mi, request is 1Gi, has larger consumption of memory.")
    assert_nothing_left(cluster)


@pytest.mark.parametrize(
    ("remove", "expected"),
    [
        (False, "node lost: gpu-a30-1 is not ready (NodeStatusUnknown: Kubelet stopped posting node status.)"),
        (True, "node lost: the pod's node no longer exists and the pod was garbage-collected "
               "(PodGC: node no longer exists)"),
    ],
    ids=["not-ready", "removed"],
)
def test_node_lost_mid_run(cluster, k8s_config, run_dir, remove: bool, expected: str) -> None:
    lines: list[str] = []
    lost_at: list[float] = []

    def lose() -> None:
        lost_at.append(time.monotonic())
        cluster.lose_node("gpu-a30-1", remove=remove)

    _when_running(cluster, lines, lose)
    results = run_mode("hang", k8s_config, run_dir, lines)
    took = time.monotonic() - lost_at[0]
    print(f"DIAGNOSIS node-lost/{'removed' if remove else 'not-ready'} ({took:.1f} s after the loss):",
          results[1].error)
    assert results[0].passed
    assert results[1].error == expected
    assert took < DIAGNOSIS_BOUND_S
    if not remove:  # its pod stays Terminating on the dead node unless force-deleted, and the Job waits for it
        assert any("force-deleted pod" in line for line in lines)
    assert_nothing_left(cluster)


def test_standin_keeps_pods_of_a_lost_node_terminating_without_force(cluster) -> None:
    """The stand-in's own behaviour the test above relies on, as a real cluster shows it."""
    cluster.add_running_pod(NAMESPACE, "stuck", "gpu-a30-1", gpus=1)
    cluster.lose_node("gpu-a30-1")
    cluster.delete_pod(NAMESPACE, "stuck", grace_s=30)
    pod = cluster.get("pods", NAMESPACE, "stuck")
    assert pod is not None and pod["metadata"]["deletionTimestamp"]
    node = cluster.get("nodes", "", "gpu-a30-1")
    assert node["status"]["conditions"][0]["status"] == "Unknown"
    assert {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"} in node["spec"]["taints"]
    cluster.delete_pod(NAMESPACE, "stuck", grace_s=0)
    assert cluster.get("pods", NAMESPACE, "stuck") is None
