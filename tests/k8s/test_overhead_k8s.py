"""An overhead comparison on Kubernetes through the stand-in API server (bench/overhead.py with the kubernetes
executor): one node picked for both sides, the Jobs created in the ABBA order overhead.json logs, each pod with its
variant's runtimeClass, volumes and env, nothing left behind; a cancel mid-repeat keeps the finished repeats."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.environment import DeviceProbe
from bench.executors.k8s_manifests import KubernetesConfig
from bench.overhead import OverheadRun, abba_order
from bench.profiles import get_profile
from bench.suite import Choices
from bench.variants import Comparison, Variant, Volume

from .conftest import StandInWorkloadExecutor
from .provisioned import assert_requests_listed
from .standin_apiserver import FakeNode, StandInAPIServer
from .test_executor import assert_nothing_left

INTERCEPTOR = "/opt/kcloud-icpt/lib/libcuda.so.1"
REQUESTED = [("llm_throughput", "offline")]


@pytest.fixture
def cluster() -> Iterator[StandInAPIServer]:
    """Two nodes of the pool; the second has more free GPUs, so it is the one picked — and the one the scheduler
    would not choose by itself (it takes the first node that fits): every pod there means the pin held."""
    server = StandInAPIServer([FakeNode("gpu-a30-1", gpus=1, labels={"gpu.example/pool": "a30"}),
                               FakeNode("gpu-a30-2", gpus=2, labels={"gpu.example/pool": "a30"})]).start()
    yield server
    server.stop()
    assert_requests_listed(server)


def comparison(tmp_path: Path, env: dict[str, dict[str, str]] | None = None) -> Comparison:
    """The seed site's comparison: the candidate mounts the interceptor libcuda.so.1 (a file on the host) and runs
    under another RuntimeClass; `env` adds variables per side."""
    env = env or {}
    interceptor = tmp_path / "host-lib" / "libcuda.so.1"
    interceptor.parent.mkdir(exist_ok=True)
    interceptor.write_bytes(b"\x7fELF stand-in interceptor")
    baseline = Variant(name="baseline", env=env.get("baseline", {}))
    candidate = Variant(name="candidate", runtime_class="nvidia",
                        env={"LD_LIBRARY_PATH": "/opt/kcloud-icpt/lib", **env.get("candidate", {})},
                        volumes=(Volume("hostPath", str(interceptor), INTERCEPTOR),))
    return Comparison(baseline, candidate, repeats=2, seed=0)


def prepare(mode: str, config: KubernetesConfig, tmp_path: Path, compared: Comparison,
            lines: list[str]) -> OverheadRun:
    executor = StandInWorkloadExecutor(mode, config)
    choices = Choices(get_profile("tiny"), "chosen by the test", executor, DeviceProbe("cpu", "test", 2),
                      "stand-in workload")
    return OverheadRun.prepare(REQUESTED, choices, tmp_path / "results", compared, echo=lines.append,
                               run_id="20261201-155500-ab12")


def created(cluster: StandInAPIServer, plural: str) -> list[dict[str, Any]]:
    """The objects the stand-in stored, in creation order."""
    return [o for _, p, t, o in cluster.history if p == plural and t == "ADDED"]


def test_a_comparison_runs_abba_on_one_node_with_each_side_as_its_variant(cluster, k8s_config, tmp_path) -> None:
    lines: list[str] = []
    run = prepare("ok", k8s_config, tmp_path, comparison(tmp_path), lines)
    assert run.node == "gpu-a30-2"
    run.run()

    data = json.loads((run.run_dir.path / "overhead.json").read_text())
    assert data["node"] == "gpu-a30-2" and data["complete"]
    repeats = sorted(data["groups"][0]["repeats"], key=lambda r: r["order"])
    logged = [r["variant"] for r in repeats]
    assert logged == abba_order(2, 0) and sorted(logged) == ["baseline"] * 2 + ["candidate"] * 2
    jobs = created(cluster, "jobs")
    assert [j["metadata"]["labels"]["kcloud-mlperf/variant"] for j in jobs] == logged  # created in that order
    assert [j["metadata"]["labels"]["kcloud-mlperf/run-id"] for j in jobs] == [
        Path(r["run_dir"]).name for r in repeats]
    assert len({j["metadata"]["name"] for j in jobs}) == 4  # one Job per repeat, none reused
    assert {r["node"] for r in repeats} == {"gpu-a30-2"}
    assert {r.node for r in cluster.runs} == {"gpu-a30-2"} and len(cluster.runs) == 4

    variant_of = {j["metadata"]["name"]: j["metadata"]["labels"]["kcloud-mlperf/variant"] for j in jobs}
    pods = [p for p in created(cluster, "pods") if "job-name" in p["metadata"]["labels"]]
    assert [variant_of[p["metadata"]["labels"]["job-name"]] for p in pods] == logged
    for pod in pods:
        side = variant_of[pod["metadata"]["labels"]["job-name"]]
        spec = pod["spec"]
        container = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert env["BENCH_VARIANT"] == side and spec["nodeSelector"]["kubernetes.io/hostname"] == "gpu-a30-2"
        if side == "candidate":
            assert spec["runtimeClassName"] == "nvidia" and env["LD_LIBRARY_PATH"] == "/opt/kcloud-icpt/lib"
            volume = next(v for v in spec["volumes"] if v["name"] == mounts[INTERCEPTOR]["name"])
            assert volume["hostPath"]["path"].endswith("host-lib/libcuda.so.1") and mounts[INTERCEPTOR]["readOnly"]
        else:
            assert spec["runtimeClassName"] == "xen-gpu" and "LD_LIBRARY_PATH" not in env
            assert INTERCEPTOR not in mounts
    for repeat in repeats:  # each repeat's run directory holds its own results and manifests
        sub = run.run_dir.path / repeat["run_dir"]
        assert [r["passed"] for r in json.loads((sub / "results.json").read_text())] == [True]
        assert f"kcloud-mlperf/variant: {repeat['variant']}" in (sub / "manifests" / "llm_throughput.yaml").read_text()
    assert_nothing_left(cluster)  # Jobs, pods, ConfigMaps


def test_cancel_during_the_second_repeat_keeps_the_first(cluster, k8s_config, tmp_path) -> None:
    """The side in position 1 finishes at once; the side in position 2 runs until cancelled (the stand-in
    workload's `release` mode, its release file never made)."""
    released, never = tmp_path / "released", tmp_path / "never"
    released.touch()
    first, second = abba_order(2, 0)[:2]
    compared = comparison(tmp_path, {first: {"RELEASE_FILE": str(released)}, second: {"RELEASE_FILE": str(never)}})
    lines: list[str] = []
    run = prepare("release", k8s_config, tmp_path, compared, lines)
    cancel = threading.Event()

    def cancel_when_the_second_runs() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                len(cluster.runs) >= 2 and any(f"[{second} 1] workload running" in line for line in list(lines))):
            time.sleep(0.05)
        cancel.set()

    threading.Thread(target=cancel_when_the_second_runs, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run.run(cancel)
    data = json.loads((run.run_dir.path / "overhead.json").read_text())
    repeats = sorted(data["groups"][0]["repeats"], key=lambda r: r["order"])
    print("DIAGNOSIS overhead cancel:", [(r["variant"], r["interrupted"], r["status"]) for r in repeats])
    assert [(r["variant"], r["interrupted"]) for r in repeats] == [(first, False), (second, True)]
    assert repeats[0]["status"] == {"llm_throughput/offline": "PASS"}
    assert not data["complete"]
    kept = json.loads((run.run_dir.path / repeats[0]["run_dir"] / "results.json").read_text())
    assert [r["passed"] for r in kept] == [True]
    assert len(created(cluster, "jobs")) == 2  # the third repeat never started
    assert any("interrupted during run 2" in line for line in lines)
    assert_nothing_left(cluster)
