"""Benchmark groups as concurrent Jobs (`--parallel N`) through the suite, against the stand-in API server with two
fake GPU nodes: overlap in time, every result in results.json, per-group terminal lines, Ctrl-C cleans up all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.config import RunGroup
from bench.environment import DeviceProbe
from bench.executors.k8s_manifests import KubernetesConfig
from bench.profiles import get_profile
from bench.results.rundir import RunDirectory, load_results
from bench.suite import Choices, SuiteRun
from tests.signals import ctrl_c_raises  # noqa: F401 (a fixture)

from .conftest import StandInWorkloadExecutor, make_group
from .provisioned import assert_requests_listed
from .standin_apiserver import FakeNode, PodRun, StandInAPIServer
from .test_executor import assert_nothing_left

GROUPS = ("llm_throughput", "resnet50")


@pytest.fixture
def cluster() -> Iterator[StandInAPIServer]:
    """Two GPU nodes of one pool, one GPU each: room for two Jobs at the same time."""
    server = StandInAPIServer([FakeNode("gpu-a30-1", gpus=1, labels={"gpu.example/pool": "a30"}),
                               FakeNode("gpu-a30-2", gpus=1, labels={"gpu.example/pool": "a30"})]).start()
    yield server
    server.stop()
    assert_requests_listed(server)


def make_suite(mode: str, config: KubernetesConfig, run_dir: RunDirectory, lines: list[str],
               tmp_path: Path) -> SuiteRun:
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir(exist_ok=True)
    config.env = {"RENDEZVOUS_DIR": str(rendezvous), "RENDEZVOUS_COUNT": str(len(GROUPS))}
    executor = StandInWorkloadExecutor(mode, config)
    choices = Choices(get_profile("tiny"), "chosen by the test", executor, DeviceProbe("cpu", "test", 2),
                      "stand-in workload")
    plan: list[RunGroup] = [make_group(benchmark=name) for name in GROUPS]
    return SuiteRun(choices, plan, run_dir, lines.append)


def runs_by_group(cluster: StandInAPIServer) -> dict[str, PodRun]:
    found = {}
    for run in cluster.runs:
        name = next(g for g in GROUPS if run.job.startswith(f"bench-{g.replace('_', '-')}-"))
        found[name] = run
    assert sorted(found) == sorted(GROUPS) and len(cluster.runs) == len(GROUPS)
    return found


def test_parallel_groups_overlap_and_all_results_land(cluster, k8s_config, run_dir, tmp_path) -> None:
    """The pytest suite asks lazily: the first result it asks for starts every group; with `together` the group it
    waits for can only finish if the other one runs at the same time."""
    k8s_config.parallel = 2
    lines: list[str] = []
    suite = make_suite("together", k8s_config, run_dir, lines, tmp_path)
    assert suite.parallel == 2
    assert "up to 2 Jobs at a time" in suite.choices.executor.describe()

    first = suite.result("resnet50", "offline")  # the second group of the plan, asked for first
    assert first.passed, first.error
    suite.finish()  # the session ends (as after `pytest -x`): the other group is waited for, not abandoned
    assert all(r.passed for r in run_dir.results) and len(run_dir.results) == 4
    assert all(suite.result(g, s).passed for g in GROUPS for s in ("offline", "single"))

    runs = runs_by_group(cluster)
    assert all(r.ended is not None for r in runs.values())
    assert max(r.started for r in runs.values()) < min(r.ended for r in runs.values())  # both ran at once
    assert {r.node for r in runs.values()} == {"gpu-a30-1", "gpu-a30-2"}
    saved = {r.key for r in load_results(run_dir.path) if r.passed}
    assert saved == {f"{g}/{s}" for g in GROUPS for s in ("offline", "single")}
    assert "[suite] 2 groups, up to 2 at a time: resnet50, llm_throughput" in lines
    for group in GROUPS:  # each group's terminal lines say which group; its log file holds only its own
        assert any(line.startswith(f"[{group}] workload together starting on gpu-a30-") for line in lines)
        assert any(line.startswith(f"[{group}] [kubernetes] submitted Job") for line in lines)
        log = (run_dir.logs / f"{group}.log").read_text()
        assert "all groups running together" in log and log.count("workload together starting") == 1
    assert_nothing_left(cluster)


def test_parallel_one_runs_groups_one_after_the_other(cluster, k8s_config, run_dir, tmp_path) -> None:
    lines: list[str] = []
    suite = make_suite("ok", k8s_config, run_dir, lines, tmp_path)
    assert suite.parallel == 1 and "one Job at a time" in suite.choices.executor.describe()

    assert suite.result("resnet50", "offline").passed
    assert [r.job.split("-")[1] for r in cluster.runs] == ["resnet50"]  # lazily: only the group asked for
    results = suite.run_all()
    assert [r.key for r in results] == [f"{g}/{s}" for g in GROUPS for s in ("offline", "single")]
    assert all(r.passed for r in results)
    runs = runs_by_group(cluster)
    assert runs["llm_throughput"].started > runs["resnet50"].ended  # strictly one after the other
    assert not any(line.startswith("[llm_throughput]") or line.startswith("[resnet50]") for line in lines)
    assert not any(t.name.startswith("bench-group") for t in threading.enumerate())
    assert_nothing_left(cluster)


def test_parallel_beyond_the_gpus_waits_instead_of_failing(cluster, k8s_config, run_dir, tmp_path) -> None:
    """Two Jobs but one node that fits one: the second Job waits its turn here rather than going Pending there
    (where it would be diagnosed unschedulable after the grace period)."""
    k8s_config.parallel = 2
    k8s_config.node_selector = {"kubernetes.io/hostname": "gpu-a30-1"}
    lines: list[str] = []
    results = make_suite("ok", k8s_config, run_dir, lines, tmp_path).run_all()
    assert all(r.passed for r in results), [r.error for r in results]
    runs = sorted(runs_by_group(cluster).values(), key=lambda r: r.started)
    assert runs[1].started > runs[0].ended
    note = next(line for line in lines if "[kubernetes] note:" in line)
    print("NOTE:", note)
    assert "2 parallel Jobs × 1 nvidia.com/gpu do not fit at once on nodes matching nodeSelector" in note
    assert note.endswith("1 Job at a time, the others wait")
    assert_nothing_left(cluster)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_during_a_parallel_run_cleans_up_every_job(cluster, k8s_config, run_dir, tmp_path) -> None:
    k8s_config.parallel = 2
    lines: list[str] = []
    suite = make_suite("hang", k8s_config, run_dir, lines, tmp_path)

    def interrupt_when_both_run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum("workload running" in line for line in list(lines)) < 2:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_both_run, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        suite.run_all()
    saved = {r.key: r for r in load_results(run_dir.path)}
    print("DIAGNOSIS parallel ctrl-c:", {k: r.error for k, r in saved.items()})
    for group in GROUPS:
        assert saved[f"{group}/offline"].passed  # printed before the hang: kept
        assert saved[f"{group}/single"].error == "interrupted (Ctrl-C); Job and its pods deleted"
    assert any("[suite] interrupted: stopping 2 running group(s)" in line for line in lines)
    assert len(cluster.runs) == 2
    assert_nothing_left(cluster)


ROOT = Path(__file__).resolve().parents[2]


def test_parallel_option_of_pytest_and_bench_run(tmp_path: Path) -> None:
    """`--parallel N` reaches the executor from both front ends and is shown in the header; 0 is refused."""
    suite = [sys.executable, "-m", "pytest", "--co", "-m", "smoke", "--executor", "kubernetes",
             "--kubeconfig", str(tmp_path / "none"), "--results-dir", str(tmp_path / "results"), "tests/benchmarks"]
    out = subprocess.run([*suite, "--parallel", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  executor: kubernetes (namespace kcloud-bench" in out.stdout
    assert "1 nvidia.com/gpu per Job, up to 2 Jobs at a time)" in out.stdout
    out = subprocess.run([*suite, "--parallel", "0"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 4 and "parallel must be ≥ 1, got 0" in out.stderr
    out = subprocess.run([sys.executable, "-m", "bench", "run", "llm_throughput", "--executor", "kubernetes",
                          "--dry-run", "--parallel", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].endswith("up to 3 Jobs at a time) — dry run; nothing submitted")
