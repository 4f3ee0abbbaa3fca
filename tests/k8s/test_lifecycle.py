"""What a real control plane does around a running Job, played by the stand-in, and the executor's reading of it:
watch expiry (410 Gone) and bookmarks, pods the Job controller cannot create (FailedCreate), graceful deletion
(SIGTERM, the grace period, SIGKILL, Failed with 143/137, then gone), the deadline's FailureTarget, NoExecute taints,
and the Orphan default when a Job is deleted without a propagationPolicy."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from bench.executors.kubernetes import watch_expired

from .conftest import NAMESPACE
from .standin_apiserver import StandInAPIServer
from .test_executor import _when_running, assert_nothing_left, run_mode

FAST_DIAGNOSIS_S = 30.0  # the executor notices within a watch window or two (poll_s=0.5 here)


def _watch_lines(cluster: StandInAPIServer, query: str) -> tuple[int, list[dict]]:
    request = urllib.request.Request(f"{cluster.url}/api/v1/namespaces/{NAMESPACE}/pods?watch=true&{query}",
                                     headers={"Authorization": "Bearer standin-token"})  # the kubeconfig's token
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, [json.loads(line) for line in response.read().splitlines() if line.strip()]


# ---- watch expiry ------------------------------------------------------------------------------------------------

def test_standin_watch_from_a_compacted_version_is_410_then_close_and_bookmarks_on_request(cluster) -> None:
    """As the real watch cache: HTTP 200, one ERROR event with a 410 Expired Status, end of stream."""
    old = cluster.rv
    cluster.bump()
    cluster.compact()
    status, events = _watch_lines(cluster, f"resourceVersion={old}&timeoutSeconds=5")
    assert status == 200 and len(events) == 1
    assert events[0] == {"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {old} ({cluster.compacted_rv})", "reason": "Expired", "code": 410}}
    _, events = _watch_lines(cluster, f"resourceVersion={cluster.rv}&timeoutSeconds=1&allowWatchBookmarks=true")
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[-1]["object"] == {"kind": "Pod", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(cluster.rv)}}
    _, events = _watch_lines(cluster, f"resourceVersion={cluster.rv}&timeoutSeconds=1")
    assert events == []  # no bookmarks unless asked for


def test_standin_watch_window_is_bounded() -> None:
    """Without compact(): the watch cache keeps `watch_window` events; older versions expire."""
    server = StandInAPIServer([], watch_window=5).start()
    try:
        first = server.rv
        for _ in range(10):
            server.bump()
        assert len(server.history) == 5 and server.compacted_rv == server.rv - 5 > first
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("delivered", "expired"),
    [
        ({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}, True),
        ({"type": "ERROR", "object": {"code": 410}, "raw_object": {"kind": "Status", "code": 410}}, True),
        ({"type": "ERROR", "object": {"kind": "Status", "code": 500, "reason": "InternalError"}}, False),
        (KeyError("raw_object"), True),
        (KeyError("metadata"), False),
    ],
    ids=["error-event", "error-event-deserialized", "error-event-500", "keyerror-raw-object", "other-keyerror"],
)
def test_watch_expired_recognises_each_form_the_client_delivers(delivered, expired: bool) -> None:
    assert watch_expired(delivered) is expired


def test_watch_expired_recognises_api_exceptions_and_status_models() -> None:
    from kubernetes.client import V1Status
    from kubernetes.client.exceptions import ApiException

    assert watch_expired(ApiException(status=410, reason="Expired: too old resource version: 1 (2)"))
    assert not watch_expired(ApiException(status=403, reason="Forbidden"))
    assert watch_expired({"type": "ERROR", "object": V1Status(code=410, reason="Expired")})


def test_watch_expiry_mid_run_relists_and_completes(cluster, k8s_config, run_dir, tmp_path: Path) -> None:
    """The cluster compacts while the workload runs (busy, so the executor's resume version is older than the
    compaction): its next watch gets 410 Expired as an ERROR event; it re-lists, resumes and sees the end."""
    release = tmp_path / "release"
    k8s_config.env = {"RELEASE_FILE": str(release)}
    lines: list[str] = []

    def expire_then_release() -> None:
        give_up = time.monotonic() + 15
        while cluster.expired_watches == 0 and time.monotonic() < give_up:
            cluster.bump()
            cluster.compact()
            time.sleep(0.2)
        time.sleep(1.0)  # the executor re-lists and resumes before the pod ends
        release.touch()

    _when_running(cluster, lines, expire_then_release)
    results = run_mode("release", k8s_config, run_dir, lines)
    print("DIAGNOSIS watch-expiry:", [r.error for r in results], f"({cluster.expired_watches} watches expired)")
    assert cluster.expired_watches >= 1
    assert all(r.passed and r.error is None for r in results)
    assert_nothing_left(cluster)


# ---- pods that cannot be created ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("setting", "cause"),
    [
        ({"runtime_class": "xen-gpu-typo"}, 'RuntimeClass "xen-gpu-typo" not found — pass --runtime-class'),
        ({"service_account": "bench-runner"},
         'error looking up service account mlperf/bench-runner: serviceaccount "bench-runner" not found'),
    ],
    ids=["unknown-runtime-class", "missing-service-account"],
)
def test_pod_that_cannot_be_created_fails_fast(cluster, k8s_config, run_dir, setting, cause: str) -> None:
    for key, value in setting.items():
        setattr(k8s_config, key, value)
    start = time.monotonic()
    results = run_mode("ok", k8s_config, run_dir, timeout_s=60)
    took = time.monotonic() - start
    error = results[0].error
    print(f"DIAGNOSIS failed-create ({took:.1f} s):", error)
    assert error.startswith(f"pod could not be created: {cause}")
    assert "\n" not in error and {r.error for r in results} == {error}
    assert took < FAST_DIAGNOSIS_S
    event = next(e for e in cluster.items("events", NAMESPACE) if e["reason"] == "FailedCreate")
    assert event["type"] == "Warning" and event["involvedObject"]["kind"] == "Job"
    assert event["message"].startswith(f'Error creating: pods "{event["involvedObject"]["name"]}-" is forbidden: ')
    assert_nothing_left(cluster)


def _failed_create(message: str) -> dict:
    return {"reason": "FailedCreate", "type": "Warning", "message": f'Error creating: pods "bench-x-" is forbidden: '
            f"{message}", "involvedObject": {"kind": "Job", "name": "bench-x"}, "count": 3}


@pytest.mark.parametrize(
    "message",
    ['exceeded quota: gpus, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=1, limited: '
     'requests.nvidia.com/gpu=1',
     'error looking up service account mlperf/default: serviceaccount "default" not found'],
    ids=["quota", "default-service-account-not-made-yet"],
)
def test_failed_create_that_can_clear_waits_for_the_grace(message: str) -> None:
    from bench.executors.k8s_diagnose import diagnose_failed_create

    waiting = diagnose_failed_create([_failed_create(message)], 1.0, 60.0)
    assert waiting is not None and not waiting.fatal and waiting.message.startswith("pod could not be created: ")
    final = diagnose_failed_create([_failed_create(message)], 61.0, 60.0)
    assert final is not None and final.fatal and final.message.endswith("(still refused after 61 s)")
    assert diagnose_failed_create([{**_failed_create(message), "type": "Normal", "reason": "SuccessfulCreate"}],
                                  99.0, 60.0) is None


# ---- graceful deletion, the deadline, NoExecute ------------------------------------------------------------------

def test_pod_deleted_mid_run_is_the_deletion_not_its_exit_code(cluster, k8s_config, run_dir) -> None:
    """The pod ignores SIGTERM: the kubelet kills it after the grace period (exit 137, phase Failed) and its Job
    goes FailureTarget then Failed (BackoffLimitExceeded) — the run still says the pod was deleted. (SIGTERM and exit
    143: test_executor.py::test_pod_deleted_mid_run.)"""
    lines: list[str] = []
    _when_running(cluster, lines, lambda: cluster.delete_pod(
        NAMESPACE, cluster.items("pods", NAMESPACE)[0]["metadata"]["name"], grace_s=1))
    results = run_mode("stubborn", k8s_config, run_dir, lines)
    print("DIAGNOSIS pod-deleted/sigkill:", results[1].error)
    assert results[0].passed
    assert "was deleted mid-run (on gpu-a30-1)" in results[1].error
    assert_nothing_left(cluster)
    # what the stand-in showed the executor: deletionTimestamp while Running, then Failed with 137, then gone
    pod_updates = [(t, o) for _, p, t, o in cluster.history if p == "pods"]
    marked = next(i for i, (_, o) in enumerate(pod_updates) if o["metadata"].get("deletionTimestamp"))
    assert pod_updates[marked][1]["status"]["phase"] == "Running"
    failed = next(o for _, o in pod_updates[marked:] if o["status"].get("phase") == "Failed")
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    assert failed["metadata"]["deletionGracePeriodSeconds"] == 1
    job_conditions = [(c["type"], c.get("reason")) for _, p, t, o in cluster.history if p == "jobs" and t == "MODIFIED"
                      for c in o["status"].get("conditions", [])]
    target = job_conditions.index(("FailureTarget", "BackoffLimitExceeded"))
    assert ("Failed", "BackoffLimitExceeded") not in job_conditions[:target]  # Failed, if it came before cleanup: later


def test_noexecute_taint_gets_no_pod(cluster, k8s_config, run_dir) -> None:
    cluster.taint_node("gpu-a30-1", "maintenance", "true", effect="NoExecute")
    error = run_mode("ok", k8s_config, run_dir)[0].error
    print("DIAGNOSIS noexecute/unschedulable:", error)
    assert error.startswith("unschedulable: a node taint is not tolerated")
    assert "untolerated taint {maintenance: true}" in error
    assert_nothing_left(cluster)


def test_noexecute_taint_mid_run_evicts_the_pod(cluster, k8s_config, run_dir) -> None:
    lines: list[str] = []
    _when_running(cluster, lines, lambda: cluster.taint_node("gpu-a30-1", "maintenance", "true", effect="NoExecute"))
    results = run_mode("hang", k8s_config, run_dir, lines)
    print("DIAGNOSIS noexecute/evicted:", results[1].error)
    assert results[0].passed
    assert results[1].error.startswith("pod evicted: node gpu-a30-1 has a NoExecute taint the pod does not tolerate "
                                       "(maintenance=true:NoExecute)")
    assert not any("force-deleted" in line for line in lines)  # the node is fine: its kubelet confirms
    assert_nothing_left(cluster)


def test_job_deletion_propagation(cluster, k8s_config, run_dir) -> None:
    """A Job deleted with no propagationPolicy orphans its pods (the batch/v1 default); the executor always says."""
    from kubernetes import client, config

    api = client.ApiClient(config.new_client_from_config(str(k8s_config.kubeconfig)).configuration)
    batch = client.BatchV1Api(api)
    batch.create_namespaced_job(NAMESPACE, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "lone"},
                                            "spec": {"backoffLimit": 0, "template": {"spec": {
                                                "restartPolicy": "Never", "containers": [{
                                                    "name": "c", "image": "x", "command": ["sleep", "30"]}]}}}})
    deadline = time.monotonic() + 5
    while not cluster.items("pods", NAMESPACE) and time.monotonic() < deadline:
        time.sleep(0.05)
    batch.delete_namespaced_job("lone", NAMESPACE)
    pods = cluster.items("pods", NAMESPACE)
    assert len(pods) == 1 and "ownerReferences" not in pods[0]["metadata"]  # orphaned, still there
    cluster.delete_pod(NAMESPACE, pods[0]["metadata"]["name"], grace_s=0)
    api.close()

    assert all(r.passed for r in run_mode("ok", k8s_config, run_dir))
    jobs = [d for d in cluster.deletions if d[0] == "jobs" and d[2] != "lone"]
    assert jobs and all(policy in ("Foreground", "Background") for *_, policy in jobs)
    assert_nothing_left(cluster)
