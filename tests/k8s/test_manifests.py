"""Rendered manifests validate against the Kubernetes 1.33 schemas (offline, kubernetes-validate) and carry what the
issue asks for; the dry run prints them without a cluster."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bench.config import RunGroup, Task
from bench.errors import ConfigError
from bench.executors.k8s_manifests import (
    PACKAGE_KEY,
    KubernetesConfig,
    job_name,
    package_payload,
    parse_node_selector,
    render_group,
)
from bench.executors.kubernetes import KubernetesExecutor

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.33"
TOKEN = "hf_DRYRUN_secret_never_printed_42"


def group(name: str = "llm_throughput", timeout_s: int = 3600) -> RunGroup:
    return RunGroup(name=name, profile="llama3.1-8b", model="meta-llama/Llama-3.1-8B-Instruct", engine={},
                    tasks=[Task("llm_throughput", "offline", {}), Task("llm_throughput", "single", {})],
                    timeout_s=timeout_s)


def config(**kw) -> KubernetesConfig:
    base = dict(namespace="mlperf", gpus=1, runtime_class="xen-gpu", node_selector={"gpu.example/pool": "a30"})
    return KubernetesConfig(**{**base, **kw}).validate()


@pytest.mark.parametrize(
    "cfg",
    [
        config(),
        config(gpus=2, package_in_image=True, image="registry.local/kcloud-mlperf:0.1.0",
               model_cache_pvc="models", service_account="bench-runner",
               tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
               affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                   {"matchExpressions": [{"key": "gpu.example/pool", "operator": "In", "values": ["a30"]}]}]}}}),
        config(gpus=0, runtime_class=None, node_selector={}, model_cache_host_path="/var/cache/models"),
    ],
    ids=["default", "air-gapped-image-pvc-tolerations", "cpu-hostpath"],
)
def test_manifests_validate_against_kubernetes_1_33(cfg: KubernetesConfig) -> None:
    rendered = render_group(cfg, group(), "20261122-010203-abcd", "v1.33.2")
    for obj in rendered.objects():
        assert kubernetes_validate.validate(obj, K8S_VERSION, strict=True) == K8S_VERSION
    for obj in rendered.for_display():  # what is saved and printed also validates (Job fully, ConfigMap shape)
        if obj["kind"] == "Job":
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_job_carries_gpu_runtime_selector_deadline_ttl_labels() -> None:
    job = render_group(config(), group(timeout_s=1234), "20261122-010203-abcd").job
    spec = job["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["runtimeClassName"] == "xen-gpu"
    assert pod["nodeSelector"] == {"gpu.example/pool": "a30"}
    assert pod["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 1234 and spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] == 3600
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "kcloud-mlperf"
    assert labels["kcloud-mlperf/run-id"] == "20261122-010203-abcd"
    assert labels["kcloud-mlperf/benchmark"] == "llm_throughput"
    assert labels["kcloud-mlperf/profile"] == "llama3.1-8b"
    env = {e["name"]: e for e in container["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert env["BENCH_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["BENCH_RUNTIME_CLASS"]["value"] == "xen-gpu"


def test_long_group_names_give_valid_job_names() -> None:
    g = group("llm_throughput+mmlu_pro+summarization+something_very_long_indeed")
    name = job_name("20261122-010203-abcd", g)
    assert len(name) <= 63 and name.endswith("-20261122-010203-abcd")
    kubernetes_validate.validate(render_group(config(), g, "20261122-010203-abcd").job, K8S_VERSION, strict=True)


def test_package_payload_is_reproducible_and_importable(tmp_path: Path) -> None:
    first, second = package_payload(), package_payload()
    assert first == second and len(first) < 700_000  # fits a ConfigMap (1 MiB with base64) with room to spare
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path, filter="data")
    assert "bench/run.py" in names and not any("__pycache__" in n for n in names)
    out = subprocess.run([sys.executable, "-c", "import bench.run, sys; print(bench.run.__file__)"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(str(tmp_path))


def test_configmap_carries_config_and_package() -> None:
    rendered = render_group(config(), group(), "r1")
    data = base64.b64decode(rendered.configmap["binaryData"][PACKAGE_KEY])
    assert data == package_payload()
    shown = rendered.for_display()[0]["binaryData"][PACKAGE_KEY]
    assert rendered.payload_sha256 in shown and str(len(data)) in shown
    air_gapped = render_group(config(package_in_image=True), group(), "r1")
    assert "binaryData" not in air_gapped.configmap
    assert "tar -xzf" not in air_gapped.job["spec"]["template"]["spec"]["containers"][0]["command"][2]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"namespace": "Bad_NS"}, "namespace 'Bad_NS' is not a valid DNS label"),
        ({"gpus": -1}, "gpus must be an integer ≥ 0"),
        ({"memory": "lots"}, "memory 'lots' is not a Kubernetes quantity"),
        ({"node_selector": {"pool": "a b"}}, "node selector pool=a b is not a valid label"),
    ],
)
def test_bad_config_names_the_field(kw, message) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        config(**kw)


def test_node_selector_parsing() -> None:
    assert parse_node_selector(["gpu.example/pool=a30", "zone=b"]) == {"gpu.example/pool": "a30", "zone": "b"}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_node_selector(["nonsense"])


def test_dry_run_done_when_command() -> None:
    """The issue's done-when: the dry run prints a Job that validates against 1.33 with everything asked for."""
    cmd = [sys.executable, "-m", "bench", "run", "llm_throughput", "--executor", "kubernetes", "--dry-run",
           "--profile", "llama3.1-8b", "--gpus", "1", "--runtime-class", "xen-gpu", "--namespace", "mlperf",
           "--node-selector", "gpu.example/pool=a30"]
    env = {**os.environ, "HF_TOKEN": TOKEN, "KUBECONFIG": "/nonexistent"}  # no cluster needed
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert TOKEN not in out.stdout + out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    job = next(d for d in docs if d["kind"] == "Job")
    assert kubernetes_validate.validate(job, K8S_VERSION, strict=True) == K8S_VERSION
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["runtimeClassName"] == "xen-gpu" and pod["nodeSelector"] == {"gpu.example/pool": "a30"}
    assert job["metadata"]["namespace"] == "mlperf"
    assert job["spec"]["activeDeadlineSeconds"] == 3600 and job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert job["metadata"]["labels"]["kcloud-mlperf/profile"] == "llama3.1-8b"
    token_env = next(e for e in pod["containers"][0]["env"] if e["name"] == "HF_TOKEN")
    assert token_env == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "hf-token", "key": "HF_TOKEN", "optional": True}}}
    assert not any(d["kind"] == "Secret" for d in docs)


def test_engine_args_and_params_reach_the_job_unchanged() -> None:
    """--engine-arg and --param travel in the group config the pod runs (ConfigMap group.json), as given."""
    import json

    cmd = [sys.executable, "-m", "bench", "run", "llm_throughput", "--executor", "kubernetes", "--dry-run",
           "--profile", "llama3.1-8b", "--gpus", "2", "--engine-arg", "tensor_parallel_size=2",
           "--engine-arg", "kv_cache_dtype=fp8", "--engine-arg", "max_model_len=8192",
           "--param", "llm_throughput.input_len=2048", "--param", "num_prompts=300"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KUBECONFIG": "/nonexistent"})
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    group_config = json.loads(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["group.json"])
    assert group_config["engine"] == {"max_model_len": 8192, "seed": 0, "enable_prefix_caching": False,
                                      "dtype": "bfloat16", "gpu_memory_utilization": 0.9,
                                      "tensor_parallel_size": 2, "kv_cache_dtype": "fp8"}
    for task in group_config["tasks"]:
        assert (task["params"]["input_len"], task["params"]["num_prompts"]) == (2048, 300)
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_more_tensor_parallel_ranks_than_gpus_per_job_is_one_line() -> None:
    cmd = [sys.executable, "-m", "bench", "run", "llm_throughput", "--executor", "kubernetes", "--dry-run",
           "--engine-arg", "tensor_parallel_size=4", "--engine-arg", "pipeline_parallel_size=2", "--gpus", "4"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == ("bench: error: tensor_parallel_size × pipeline_parallel_size = 8 GPUs, but each "
                                  "Job gets 4 nvidia.com/gpu: pass --gpus 8")


def test_kubernetes_options_need_the_kubernetes_executor() -> None:
    out = subprocess.run([sys.executable, "-m", "bench", "run", "llm_throughput", "--gpus", "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == "bench: error: --gpus only apply with --executor kubernetes"


def test_dry_run_yaml_is_a_valid_yaml_stream() -> None:
    text = KubernetesExecutor(config()).dry_run_yaml([group()], "r1")
    assert [d["kind"] for d in yaml.safe_load_all(text)] == ["ConfigMap", "Job"]


def test_missing_client_is_one_line(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_kubernetes(name, *args, **kwargs):
        if name == "kubernetes" or name.startswith("kubernetes."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_kubernetes)
    from bench.errors import BenchError

    with pytest.raises(BenchError, match=r"needs the `kubernetes` Python package: pip install -e '\.\[k8s\]'"):
        KubernetesExecutor(config(), environ={})._client()
