"""The real entry point (`python -m bench.run`) end to end through the stand-in API server: the bench package
travels in the ConfigMap, is unpacked in the 'container', runs, and its BENCH_RESULT lines come back as results that
record where they ran (node, pod, runtimeClass, Kubernetes version)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bench.config import RunGroup, Task
from bench.executors.kubernetes import KubernetesExecutor
from bench.models.tiny import cache_root

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
    """The tiny profile's llm_throughput on the real vLLM CPU build, as a 'pod' of the stand-in (about a minute)."""
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
