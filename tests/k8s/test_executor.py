"""The Kubernetes executor end to end against the loopback stand-in API server (real `kubernetes` client)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from bench.executors.k8s_manifests import KubernetesConfig
from bench.results.rundir import RunDirectory, load_results
from tests.signals import ctrl_c_raises  # noqa: F401 (a fixture)

from .conftest import NAMESPACE, StandInWorkloadExecutor, make_group
from .standin_apiserver import StandInAPIServer


def run_mode(mode: str, config: KubernetesConfig, run_dir: RunDirectory, lines: list[str] | None = None,
             environ: dict[str, str] | None = None, timeout_s: int = 120):
    lines = [] if lines is None else lines
    executor = StandInWorkloadExecutor(mode, config, environ)
    return executor.run(make_group(timeout_s), run_dir, lines.append)


def assert_nothing_left(cluster: StandInAPIServer) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (cluster.items("jobs") or cluster.items("pods")
                                           or cluster.items("configmaps") or cluster.processes_alive()):
        time.sleep(0.05)
    assert cluster.items("jobs") == []
    assert cluster.items("pods") == []
    assert cluster.items("configmaps") == []
    assert cluster.processes_alive() == []


def test_happy_path_results_logs_manifests_and_cleanup(cluster, k8s_config, run_dir) -> None:
    lines: list[str] = []
    results = run_mode("ok", k8s_config, run_dir, lines)
    assert [r.key for r in results] == ["llm_throughput/offline", "llm_throughput/single"]
    assert all(r.passed and r.error is None for r in results)
    assert results[0].environment["kubernetes"]["node"] == "gpu-a30-1"
    log = (run_dir.logs / "llm_throughput.log").read_text()
    assert "workload ok starting on gpu-a30-1" in log and "BENCH_RESULT" in log
    assert any("workload ok starting" in line for line in lines)  # streamed live to the terminal
    assert not any(line.startswith("BENCH_RESULT") for line in lines)
    manifest = (run_dir.manifests / "llm_throughput.yaml").read_text()
    assert "kind: Job" in manifest and "runtimeClassName: xen-gpu" in manifest and "sha256" in manifest
    assert_nothing_left(cluster)
    job = next(o for _, p, t, o in cluster.history if p == "jobs" and t == "ADDED")
    assert ("DELETE", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job['metadata']['name']}") in cluster.requests


def test_job_carries_run_labels_and_secret_reference(cluster, k8s_config, run_dir) -> None:
    run_mode("ok", k8s_config, run_dir, environ={"HF_TOKEN": "hf_x"})
    job = next(o for _, p, t, o in cluster.history if p == "jobs" and t == "ADDED")
    labels = job["metadata"]["labels"]
    assert labels["kcloud-mlperf/run-id"] == run_dir.run_id
    assert labels["kcloud-mlperf/benchmark"] == "llm_throughput" and labels["kcloud-mlperf/profile"] == "tiny"
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "hf-token", "key": "HF_TOKEN", "optional": True}}}
    assert env["BENCH_K8S_VERSION"]["value"] == "v1.33.2"


def test_watch_relists_after_410_gone(cluster, k8s_config, run_dir) -> None:
    """Compaction while the run is watching: the watch gets 410 Expired, re-lists and still sees the end."""
    stop = threading.Event()

    def compact_repeatedly() -> None:
        while not stop.is_set():
            cluster.compact()
            time.sleep(0.3)

    t = threading.Thread(target=compact_repeatedly, daemon=True)
    t.start()
    try:
        results = run_mode("ok", k8s_config, run_dir)
    finally:
        stop.set()
        t.join()
    assert all(r.passed for r in results)
    assert_nothing_left(cluster)


def test_capacity_check_submits_nothing(cluster, k8s_config, run_dir) -> None:
    k8s_config.gpus = 4
    lines: list[str] = []
    results = run_mode("ok", k8s_config, run_dir, lines)
    error = results[0].error
    print("DIAGNOSIS capacity:", error)
    assert error.startswith("cluster cannot run this: each Job requests 4 nvidia.com/gpu")
    assert "gpu-a30-1: 1" in error and "nothing was submitted" in error
    assert not any(m == "POST" and "/jobs" in p for m, p in cluster.requests)


def test_no_node_matches_selector_submits_nothing(cluster, k8s_config, run_dir) -> None:
    k8s_config.node_selector = {"gpu.example/pool": "b200"}
    error = run_mode("ok", k8s_config, run_dir)[0].error
    print("DIAGNOSIS no-node:", error)
    assert error == ("cluster cannot run this: no node matches nodeSelector gpu.example/pool=b200; "
                     "nothing was submitted")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("taint", "unschedulable: a node taint is not tolerated"),
        ("busy", "unschedulable: not enough free nvidia.com/gpu (the pod requests 1 nvidia.com/gpu)"),
    ],
    ids=["untolerated-taint", "insufficient-gpu"],
)
def test_unschedulable_is_diagnosed_after_grace(cluster, k8s_config, run_dir, setup, expected) -> None:
    if setup == "taint":
        k8s_config.node_selector = {"gpu.example/pool": "h100"}
    else:
        cluster.add_running_pod(NAMESPACE, "someone-else", "gpu-a30-1", gpus=1)
    start = time.monotonic()
    results = run_mode("ok", k8s_config, run_dir)
    error = results[0].error
    print(f"DIAGNOSIS unschedulable/{setup}:", error)
    assert error.startswith(expected) and "scheduler: 0/3 nodes are available" in error
    assert "still pending after" in error
    assert time.monotonic() - start < 15
    assert {r.error for r in results} == {error}
    cluster.delete_pod(NAMESPACE, "someone-else")
    assert_nothing_left(cluster)


def test_image_pull_failure(cluster, k8s_config, run_dir) -> None:
    k8s_config.image = "registry.example/does-not-exist:1.0"
    error = run_mode("ok", k8s_config, run_dir)[0].error
    print("DIAGNOSIS image-pull:", error)
    assert error.startswith("image pull failed (") and "registry.example/does-not-exist:1.0" in error
    assert_nothing_left(cluster)


def test_oom_killed(cluster, k8s_config, run_dir) -> None:
    k8s_config.memory = "128Mi"
    results = run_mode("oom", k8s_config, run_dir)
    print("DIAGNOSIS oom:", results[1].error)
    assert results[0].passed  # finished before the OOM kill: kept
    assert results[1].error.startswith("OOMKilled: the container exceeded its memory limit (128Mi)")
    assert_nothing_left(cluster)


def test_deadline_exceeded(cluster, k8s_config, run_dir) -> None:
    k8s_config.deadline_s = 2
    results = run_mode("hang", k8s_config, run_dir)
    print("DIAGNOSIS deadline:", results[1].error)
    assert results[0].passed
    assert results[1].error.startswith("deadline exceeded: the Job ran longer than activeDeadlineSeconds=2")
    assert_nothing_left(cluster)


def test_workload_crash_keeps_finished_results(cluster, k8s_config, run_dir) -> None:
    results = run_mode("crash", k8s_config, run_dir)
    print("DIAGNOSIS crash:", results[1].error)
    assert results[0].passed
    assert results[1].error == ("workload container exited with code 1: Error; last error: error: "
                                "llm_throughput/single: RuntimeError: engine died")
    assert_nothing_left(cluster)


def _when_running(cluster: StandInAPIServer, lines: list[str], action) -> threading.Thread:
    def wait_then_act() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("workload running" in line for line in list(lines)):
            time.sleep(0.05)
        action()

    t = threading.Thread(target=wait_then_act, daemon=True)
    t.start()
    return t


def test_pod_deleted_mid_run(cluster, k8s_config, run_dir) -> None:
    lines: list[str] = []

    def delete_pod() -> None:
        pod = cluster.items("pods", NAMESPACE)[0]
        cluster.delete_pod(NAMESPACE, pod["metadata"]["name"])

    _when_running(cluster, lines, delete_pod)
    results = run_mode("hang", k8s_config, run_dir, lines)
    print("DIAGNOSIS pod-deleted:", results[1].error)
    assert results[0].passed  # its BENCH_RESULT line arrived before the deletion
    assert "was deleted mid-run (on gpu-a30-1)" in results[1].error
    assert_nothing_left(cluster)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_deletes_the_job_and_records_interrupted(cluster, k8s_config, run_dir) -> None:
    lines: list[str] = []
    _when_running(cluster, lines, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        run_mode("hang", k8s_config, run_dir, lines)
    saved = {r.key: r for r in load_results(run_dir.path)}
    print("DIAGNOSIS ctrl-c:", saved["llm_throughput/single"].error)
    assert saved["llm_throughput/offline"].passed
    assert saved["llm_throughput/single"].error == "interrupted (Ctrl-C); Job and its pods deleted"
    assert_nothing_left(cluster)


def test_missing_kubeconfig_is_one_line(run_dir, tmp_path: Path) -> None:
    config = KubernetesConfig(kubeconfig=str(tmp_path / "nope"), gpus=0)
    error = StandInWorkloadExecutor("ok", config).run(make_group(), run_dir, lambda _: None)[0].error
    assert error == f"kubeconfig {tmp_path / 'nope'} does not exist: pass --kubeconfig PATH"


def test_token_value_never_written(cluster, k8s_config, run_dir, tmp_path: Path) -> None:
    """HF_TOKEN from the user's environment becomes a Secret; its value is in nothing the run writes."""
    from .conftest import TOKEN

    lines: list[str] = []
    results = run_mode("ok", k8s_config, run_dir, lines, environ={"HF_TOKEN": TOKEN})
    assert all(r.passed for r in results)
    secret = cluster.get("secrets", NAMESPACE, "hf-token")
    assert secret is not None and "HF_TOKEN" in secret["data"]  # the pod got it through the Secret
    assert f"workload has a token of length {len(TOKEN)} and prints it: ***" in lines  # redacted, live
    assert f"workload has a token of length {len(TOKEN)} and prints it: ***" in (
        run_dir.logs / "llm_throughput.log").read_text()
    run_dir.add_results(results)
    (run_dir.junit).write_text(json.dumps([r.to_dict() for r in results]))
    written = [p for p in run_dir.path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".yaml" for p in written) and any(p.suffix == ".log" for p in written)
    for path in written:
        assert TOKEN not in path.read_text(errors="replace"), path
    assert not any(TOKEN in line for line in lines)
