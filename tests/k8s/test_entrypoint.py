"""The real entry point (`python -m bench.run`) end to end through the stand-in API server: the bench package
travels in the ConfigMap, is unpacked in the 'container', runs, and its BENCH_RESULT lines come back as results that
record where they ran (node, pod, runtimeClass, Kubernetes version). By default: a parameter error, a real benchmark
that passes (resnet50, seconds on a CPU), and the suite under a real pytest with HF_TOKEN set; the tiny model on
vLLM's CPU build (85 s on two cores) with KCLOUD_K8S_E2E=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.config import RunGroup, Task
from bench.executors.kubernetes import KubernetesExecutor
from bench.models.tiny import cache_root

from .conftest import NAMESPACE, TOKEN
from .provisioned import REPO
from .test_executor import assert_nothing_left


def test_real_entry_point_through_the_standin(cluster, k8s_config, run_dir, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    # A RunGroup whose task fails fast inside the entry point (a bad parameter), so no engine has to load.
    group = RunGroup(name="llm_throughput", profile="tiny", model=str(model), engine={},
                     tasks=[Task("llm_throughput", "offline", {"num_prompts": 0})], timeout_s=120)
    lines: list[str] = []
    results = KubernetesExecutor(k8s_config, environ={}).run(group, run_dir, lines.append)
    [result] = results
    assert result.error == "llm_throughput/offline parameters: num_prompts must be ≥ 1, got 0"
    pod = result.environment["kubernetes"]["pod"]
    assert result.environment["kubernetes"] == {"node": "gpu-a30-1", "pod": pod, "runtime_class": "xen-gpu",
                                                "version": "v1.33.2"}
    assert pod.startswith("bench-llm-throughput-")
    log = (run_dir.logs / "llm_throughput.log").read_text()
    assert "[bench] llm_throughput/offline: ERROR" in log and "BENCH_RESULT {" in log
    assert any("[bench] running llm_throughput/offline" in line for line in lines)
    assert_nothing_left(cluster)


@pytest.mark.e2e
@pytest.mark.skipif(os.environ.get("KCLOUD_K8S_E2E") != "1", reason="real vLLM in the stand-in pod: KCLOUD_K8S_E2E=1")
def test_real_vllm_tiny_model_through_the_standin(cluster, k8s_config, run_dir, tmp_path: Path) -> None:
    """The tiny profile's llm_throughput on the real vLLM CPU build, as a 'pod' of the stand-in (85 s on two cores,
    the engine start most of it: opt-in; test_real_benchmark_passes_through_the_standin runs by default)."""
    host_cache = tmp_path / "hostcache"
    host_cache.mkdir()
    (host_cache / "xdg").symlink_to(cache_root().parent)  # the model cache volume: hostPath with the built model
    k8s_config.model_cache_host_path = str(host_cache)
    k8s_config.memory = "16Gi"
    k8s_config.env = {"VLLM_CPU_KVCACHE_SPACE": "1"}
    from bench.overrides import ParamOverrides
    from bench.plan import build_plan
    from bench.profiles import get_profile

    params = ParamOverrides({"num_prompts": "8", "output_len": "8", "input_len": "32", "warmup_prompts": "1"})
    [group] = build_plan([("llm_throughput", "offline")], get_profile("tiny"), params=params)
    start = time.monotonic()
    [result] = KubernetesExecutor(k8s_config, environ={}).run(group, run_dir, print)
    print("took", round(time.monotonic() - start, 1), "s;", json.dumps(result.metrics))
    assert result.passed, result.error
    assert result.environment["kubernetes"]["node"] == "gpu-a30-1"
    assert_nothing_left(cluster)


def resnet50_group(scenario: str = "SingleStream") -> RunGroup:
    """The tiny profile's resnet50 at its smoke sizes (random-weight ResNet-50 on 32×32 images under real LoadGen):
    the cheapest real benchmark, seconds on a CPU — vLLM's CPU build takes 85 s on two cores (the opt-in test above).
    SingleStream: LoadGen issues queries until the minimum duration has passed, so it calls the run VALID however
    busy the machine is (Offline sizes its one query from a speed estimate, and a busy CI machine can make it
    finish early: INVALID)."""
    from bench.plan import build_plan
    from bench.profiles import get_profile

    [group] = build_plan([("resnet50", scenario)], get_profile("tiny"))
    return group


def test_real_benchmark_passes_through_the_standin(cluster, k8s_config, run_dir) -> None:
    """The success path of the real container script: the package unpacked from the ConfigMap, `python -m
    bench.run` measuring resnet50 SingleStream under LoadGen in the 'pod', its result back through the log,
    passed."""
    k8s_config.memory = "8Gi"
    lines: list[str] = []
    [result] = KubernetesExecutor(k8s_config, environ={}).run(resnet50_group(), run_dir, lines.append)
    assert result.passed and result.error is None, result.error
    assert result.key == "resnet50/SingleStream" and result.metrics["latency_p90_ms"] > 0
    assert result.metrics["result_valid"] == 1.0  # LoadGen's own verdict on the run, read in the pod
    assert result.environment["kubernetes"]["node"] == "gpu-a30-1"
    assert result.environment["kubernetes"]["runtime_class"] == "xen-gpu"
    log = (run_dir.logs / "resnet50.log").read_text()
    assert "[bench] running resnet50/SingleStream" in log and "BENCH_RESULT {" in log
    assert_nothing_left(cluster)


def test_suite_under_pytest_shows_the_token_only_redacted(cluster, kubeconfig: Path, tmp_path: Path) -> None:
    """`pytest -m smoke --executor kubernetes` as a user runs it, in a subprocess, against the stand-in, with HF_TOKEN
    set: the Secret carries it to the pod, whose script prints it (tests/k8s/token_echo_plugin.py) before the real
    entry point runs resnet50. The terminal and the log show it redacted; nothing pytest or the suite wrote — the
    JUnit report (--junitxml), results, summary, manifests, logs — holds it."""
    junit = tmp_path / "report.xml"
    results = tmp_path / "results"
    env = {**os.environ, "HF_TOKEN": TOKEN, "KUBECONFIG": "/nonexistent"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.k8s.token_echo_plugin", "-m", "smoke",
         "--profile", "tiny", "-k", "resnet50 and SingleStream", "--executor", "kubernetes",
         f"--kubeconfig={kubeconfig}", f"--namespace={NAMESPACE}", "--node-selector", "gpu.example/pool=a30",
         "--runtime-class", "xen-gpu",
         f"--results-dir={results}", f"--junitxml={junit}"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "workload sees HF_TOKEN=***" in output  # the pod printed it; the executor redacted the stream
    assert cluster.get("secrets", NAMESPACE, "hf-token") is not None
    run = (results / "latest").resolve()
    assert "workload sees HF_TOKEN=***" in (run / "logs" / "resnet50.log").read_text()
    [result] = json.loads((run / "results.json").read_text())
    assert result["passed"] and result["benchmark"] == "resnet50"
    report = ET.parse(junit).getroot()
    assert [t.get("name") for t in report.iter("testcase")] == ["test_resnet50[SingleStream]"]
    written = [p for p in [junit, *results.rglob("*")] if p.is_file()]
    assert {"results.json", "summary.md", "junit.xml", "resnet50.yaml", "resnet50.log", "report.xml"} <= {
        p.name for p in written}
    assert [p for p in written if TOKEN in p.read_text(errors="replace")] == []
    assert TOKEN not in output
