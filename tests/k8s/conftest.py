"""Fixtures for the Kubernetes executor tests: a loopback stand-in API server with fake GPU nodes."""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.config import RunGroup, Task
from bench.executors.k8s_manifests import CONFIG_KEY, CONFIG_MOUNT, KubernetesConfig
from bench.executors.kubernetes import KubernetesExecutor
from bench.results.rundir import RunDirectory

from .provisioned import assert_requests_listed
from .standin_apiserver import FakeNode, StandInAPIServer

NAMESPACE = "mlperf"
TOKEN = "hf_STANDIN_token_value_d3adb33f"  # a fake token: the grep test looks for it in everything written

# A stand-in workload for fault cases (the real vLLM would take a minute): reads the group config the Job mounts and
# prints results the way `bench.run` does (`BENCH_RESULT <json>` lines), then behaves as MODE says. `together`: every
# result only once all groups of the run are running at the same time (each touches a file in $RENDEZVOUS_DIR and
# waits for $RENDEZVOUS_COUNT of them), so it passes only when groups really run concurrently. `release`: runs until
# $RELEASE_FILE exists, then as `ok`. `stubborn`: hangs ignoring SIGTERM, so only the SIGKILL after the grace ends it.
WORKLOAD = textwrap.dedent(
    """
    import json, os, sys, time
    mode, config = sys.argv[1], sys.argv[2]
    group = json.load(open(config))
    def result(task):
        return {"benchmark": task["benchmark"], "scenario": task["scenario"], "profile": group["profile"],
                "metrics": {"x": 1.0}, "thresholds": {}, "passed": True, "config": {},
                "environment": {"kubernetes": {"node": os.environ.get("BENCH_NODE_NAME")}},
                "started_at": "", "duration_s": 0.0, "error": None, "notes": []}
    print(f"workload {mode} starting on {os.environ.get('BENCH_NODE_NAME')}", flush=True)
    if os.environ.get("HF_TOKEN"):
        # printed in clear, as a careless workload would: the executor must redact it from the log and terminal
        print("workload has a token of length", len(os.environ["HF_TOKEN"]), "and prints it:", os.environ["HF_TOKEN"],
              flush=True)
    if mode == "together":
        rendezvous, count = os.environ["RENDEZVOUS_DIR"], int(os.environ["RENDEZVOUS_COUNT"])
        open(os.path.join(rendezvous, group["name"]), "w").close()
        give_up = time.monotonic() + 60
        while len(os.listdir(rendezvous)) < count:
            if time.monotonic() > give_up:
                print(f"error: only {os.listdir(rendezvous)} ran at the same time", file=sys.stderr, flush=True)
                sys.exit(3)
            time.sleep(0.05)
        print("all groups running together", flush=True)
        mode = "ok"
    if mode == "release":  # runs until the test creates $RELEASE_FILE, then finishes as ok
        print("workload running", flush=True)
        while not os.path.exists(os.environ["RELEASE_FILE"]):
            time.sleep(0.05)
        mode = "ok"
    if mode == "ok":
        for task in group["tasks"]:
            print("BENCH_RESULT " + json.dumps(result(task)), flush=True)
        sys.exit(0)
    print("BENCH_RESULT " + json.dumps(result(group["tasks"][0])), flush=True)
    if mode == "oom":
        hog = bytearray(400 * 2**20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
    if mode == "stubborn":  # ignores SIGTERM: only the SIGKILL after the grace period ends it
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "crash":
        print("error: llm_throughput/single: RuntimeError: engine died", file=sys.stderr, flush=True)
        sys.exit(1)
    print("workload running", flush=True)
    time.sleep(300)
    """
)


class StandInWorkloadExecutor(KubernetesExecutor):
    """The product executor with the container running WORKLOAD instead of the entry point."""

    def __init__(self, mode: str, config: KubernetesConfig, environ: dict[str, str] | None = None,
                 **options: Any) -> None:
        super().__init__(config, environ=environ or {}, **options)
        self.mode = mode

    def script(self, group: RunGroup) -> str:
        return f"exec python3 -c {shlex.quote(WORKLOAD)} {self.mode} {CONFIG_MOUNT}/{CONFIG_KEY}\n"


def make_group(timeout_s: int = 120, benchmark: str = "llm_throughput") -> RunGroup:
    tasks = [Task(benchmark, "offline", {}), Task(benchmark, "single", {})]
    return RunGroup(name=benchmark, profile="tiny", model="tiny-llama", engine={}, tasks=tasks, timeout_s=timeout_s)


def standin_nodes() -> list[FakeNode]:
    return [
        FakeNode("gpu-a30-1", gpus=1, labels={"gpu.example/pool": "a30"}),
        FakeNode("gpu-h100-1", gpus=2, labels={"gpu.example/pool": "h100"},
                 taints=[{"key": "dedicated", "value": "h100", "effect": "NoSchedule"}]),
        FakeNode("cpu-1", gpus=0, labels={"gpu.example/pool": "none"}),
    ]


@pytest.fixture
def cluster() -> Iterator[StandInAPIServer]:
    server = StandInAPIServer(standin_nodes()).start()
    yield server
    server.stop()
    assert_requests_listed(server)  # what the run asked for is in the list the provisioning role grants


@pytest.fixture
def kubeconfig(cluster: StandInAPIServer, tmp_path: Path) -> Path:
    return cluster.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def k8s_config(kubeconfig: Path) -> KubernetesConfig:
    return KubernetesConfig(
        namespace=NAMESPACE, gpus=1, node_selector={"gpu.example/pool": "a30"}, runtime_class="xen-gpu",
        kubeconfig=str(kubeconfig), memory="2Gi", cpu="1", poll_s=0.5, unschedulable_grace_s=2.0,
        image_pull_grace_s=2.0,
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDirectory:
    return RunDirectory.create(tmp_path / "results")
