"""Kubernetes manifests for one RunGroup, as plain dicts: a ConfigMap (the group config, and the bench package unless
the image has it) and a batch/v1 Job that runs the entry point; for a serving group that starts its own server also
an apps/v1 Deployment (one vLLM server pod, on the GPUs) and a ClusterIP Service in front of it, the Job then being
the CPU-only load client pointed at the Service's cluster DNS name. Pure functions of typed config; no client import,
so `bench run --dry-run` needs no cluster and no `kubernetes` package.

How code reaches the pod (DESIGN.md): by default the official vLLM image plus this package, delivered as a tar.gz in
the ConfigMap and unpacked into an emptyDir; with `package_in_image` (the image built from the Containerfile at the
repository root, for air-gapped sites) the ConfigMap carries only the config.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import io
import json
import math
import re
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.config import RunGroup
from bench.engines.vllm_server import server_command
from bench.errors import ConfigError
from bench.variants import Volume

# The official vLLM image, pinned: the in-pod engine is vLLM's CUDA build (the CPU build 0.32.0 is what CI runs).
DEFAULT_IMAGE = "vllm/vllm-openai:v0.32.0"
# Namespace and Secret that the provisioning role benchmark_namespace creates (roles/benchmark_namespace/defaults).
DEFAULT_NAMESPACE = "kcloud-bench"
DEFAULT_HF_SECRET = "hf-token"
DEFAULT_HF_SECRET_KEY = "HF_TOKEN"
GPU_RESOURCE = "nvidia.com/gpu"
APP_NAME = "kcloud-mlperf"
LABEL_RUN = "kcloud-mlperf/run-id"
LABEL_BENCHMARK = "kcloud-mlperf/benchmark"
LABEL_PROFILE = "kcloud-mlperf/profile"
LABEL_JOB = "kcloud-mlperf/job"
LABEL_VARIANT = "kcloud-mlperf/variant"  # the side of an overhead comparison (bench/overhead.py) a Job runs
LABEL_HOSTNAME = "kubernetes.io/hostname"  # the well-known node label a comparison pins both sides' pods with
LABEL_ROLE = "kcloud-mlperf/role"  # a serving group's pods: "server" (the Deployment's) or "client" (the Job's)
RESULT_PREFIX = "BENCH_RESULT "  # bench.run prints each finished result as one such line

# The serving group's vLLM server (vllm docs deployment/k8s.md; reference/serving-multinode-anchors.md §1, §7a).
SERVER_PORT = 8000
SERVER_CONTAINER = "server"
SERVER_SUFFIX = "-srv"  # Deployment and Service: the Job's name + this; never a bare "vllm" (VLLM_PORT, §1.1)
DEFAULT_SERVER_BUDGET_S = 600  # model load: the startup probe's failureThreshold × periodSeconds (60 × 10 s)
MIN_SERVER_BUDGET_S = 60
STARTUP_PERIOD_S = 10
MODEL_PLACEHOLDER = "\0model\0"  # in server_command's argv: the model path resolved in the pod

# Paths inside the container.
CONFIG_MOUNT = "/opt/kcloud-mlperf/config"  # ConfigMap, read-only
WORK_MOUNT = "/opt/kcloud-mlperf/work"  # emptyDir: unpacked package, results file, HF cache without a model cache
CACHE_MOUNT = "/opt/kcloud-mlperf/cache"  # model cache (PVC or hostPath)
CONFIG_KEY = "group.json"
PACKAGE_KEY = "bench.tar.gz"
MAX_CONFIGMAP_PAYLOAD = 900 * 1024  # base64 bytes; a ConfigMap holds at most 1 MiB in all

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


@dataclass
class KubernetesConfig:
    """Where and how a RunGroup runs as a Job. Every field is a `bench run` / pytest option or a site default."""

    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    package_in_image: bool = False  # True for an image built from the Containerfile (bench pre-installed)
    gpus: int = 1
    cpu: str = "4"
    memory: str = "32Gi"
    runtime_class: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    affinity: dict[str, Any] | None = None
    service_account: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # extra container env (e.g. VLLM_* settings, proxies)
    hf_secret_name: str = DEFAULT_HF_SECRET
    hf_secret_key: str = DEFAULT_HF_SECRET_KEY
    model_cache_pvc: str | None = None
    model_cache_host_path: str | None = None
    shm_size: str = "8Gi"  # /dev/shm for vLLM / PyTorch workers
    deadline_s: int | None = None  # activeDeadlineSeconds; default: the group's timeout
    ttl_s: int = 3600  # ttlSecondsAfterFinished: a safety net if the executor itself dies
    python: str = "python3"
    kubeconfig: str | None = None
    context: str | None = None
    parallel: int = 1  # groups on the cluster at the same time
    unschedulable_grace_s: float = 60.0  # how long a pod may stay unschedulable before the run gives up
    image_pull_grace_s: float = 30.0  # how long ErrImagePull may last (ImagePullBackOff fails at once)
    poll_s: float = 5.0  # watch window: how often the Job's conditions and the grace periods are checked
    server_startup_s: int | None = None  # a serving group's vLLM server: its model-load budget (startup probe)
    # set by an overhead comparison's variant (KubernetesExecutor.for_variant), empty otherwise
    variant: str | None = None  # the variant's name: label kcloud-mlperf/variant and env BENCH_VARIANT
    extra_volumes: tuple[Volume, ...] = ()  # hostPath (a file or a directory) or configMap, mounted in the container
    pod_annotations: dict[str, str] = field(default_factory=dict)  # the pod template's metadata.annotations

    def validate(self) -> KubernetesConfig:
        if not _DNS_LABEL.match(self.namespace) or len(self.namespace) > 63:
            raise ConfigError(f"namespace {self.namespace!r} is not a valid DNS label (lowercase a-z, 0-9, '-')")
        if not self.image.strip():
            raise ConfigError("image must not be empty: pass --image REGISTRY/NAME:TAG")
        for name in ("gpus",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be an integer ≥ 0, got {value!r}")
        if self.parallel < 1:
            raise ConfigError(f"parallel must be ≥ 1, got {self.parallel}")
        for name in ("cpu", "memory", "shm_size"):
            if not _QUANTITY.match(str(getattr(self, name))):
                raise ConfigError(f"{name} {getattr(self, name)!r} is not a Kubernetes quantity (e.g. 4, 500m, 32Gi)")
        if self.runtime_class is not None and not _DNS_LABEL.match(self.runtime_class):
            raise ConfigError(f"runtime class {self.runtime_class!r} is not a valid name (lowercase a-z, 0-9, '-')")
        for key, value in self.node_selector.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value) or len(value) > 63:
                raise ConfigError(f"node selector {key}={value} is not a valid label (KEY=VALUE, e.g. gpu=a30)")
        if self.model_cache_pvc and self.model_cache_host_path:
            raise ConfigError("model cache: give either model_cache_pvc or model_cache_host_path, not both")
        if self.image_pull_policy not in ("Always", "IfNotPresent", "Never"):
            raise ConfigError(f"image_pull_policy must be Always, IfNotPresent or Never: {self.image_pull_policy!r}")
        if self.variant is not None and (not _DNS_LABEL.match(self.variant) or len(self.variant) > 63):
            raise ConfigError(f"variant {self.variant!r} is not a valid label value (lowercase a-z, 0-9, '-')")
        for key in self.pod_annotations:
            if not _LABEL_KEY.match(key) or len(key.rpartition("/")[2]) > 63:
                raise ConfigError(f"annotation {key!r} is not a valid annotation key (e.g. example.com/name)")
        taken = {"bench-config", "work", "dshm", "model-cache"}
        mounted = {CONFIG_MOUNT, WORK_MOUNT, CACHE_MOUNT, "/dev/shm"}
        for volume in self.extra_volumes:
            if volume.kind not in ("hostPath", "configMap"):
                raise ConfigError(f"volume {volume.describe()}: the kind must be hostPath or configMap")
            if volume.name in taken or volume.mount_path in mounted:
                raise ConfigError(f"volume {volume.describe()}: mount path {volume.mount_path} is taken (by the "
                                  f"run's own mounts or another volume); mount it elsewhere")
            taken.add(volume.name)
            mounted.add(volume.mount_path)
        return self

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> KubernetesConfig:
        """Build from CLI/pytest options; None means 'the default', unknown names are an error."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - fields)
        if unknown:
            allowed = ", ".join(sorted(fields))
            raise ConfigError(f"unknown kubernetes option(s) {', '.join(unknown)}; allowed: {allowed}")
        return cls(**{k: v for k, v in options.items() if v is not None}).validate()


def parse_node_selector(items: list[str] | None) -> dict[str, str]:
    """`["gpu.example/pool=a30", ...]` → dict, with a one-line error for a malformed item."""
    selector: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--node-selector {item!r}: expected KEY=VALUE, e.g. gpu.example/pool=a30")
        selector[key.strip()] = value.strip()
    return selector


def slug(text: str, limit: int = 63) -> str:
    """A DNS-label-safe form of `text` (lowercase, '-' for anything else), at most `limit` characters."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:limit].rstrip("-") or "x"


def label_value(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_.-]+", ".", text)[:63]
    return out.strip("-_.") or "x"


def job_name(run_id: str, group: RunGroup) -> str:
    """`bench-<group>-<run id>`, ≤ 63 characters (it becomes the pods' job-name label). When that is too long: the
    group's name shortened, a hash of the whole run id and group name, and the run id's last 40 characters — the
    part that tells an overhead comparison's repeats apart (`….r03-candidate`), so their Jobs never collide."""
    run, group_slug = slug(run_id, 1000), slug(group.name, 1000)
    name = f"bench-{group_slug}-{run}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(f"{run_id}\0{group.name}".encode()).hexdigest()[:6]
    run = run[-40:].strip("-")
    return f"bench-{slug(group.name, 63 - len(run) - len(digest) - 8)}-{digest}-{run}"


def run_labels(run_id: str, group: RunGroup, variant: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/component": "benchmark",
        LABEL_RUN: label_value(run_id),
        LABEL_BENCHMARK: label_value(group.name.replace("+", ".")),
        LABEL_PROFILE: label_value(group.profile),
    }
    if variant:
        labels[LABEL_VARIANT] = label_value(variant)
    return labels


def package_payload(root: Path | None = None) -> bytes:
    """The installed `bench` package source as a reproducible tar.gz (sorted, mtime 0, no caches)."""
    root = root or Path(__file__).resolve().parents[1]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as tar:
        # gzip's own header mtime would vary; tarfile writes 0 only with fileobj and mtime handled below
        for path in sorted(root.rglob("*")):
            if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo") or not path.is_file():
                continue
            info = tar.gettarinfo(str(path), arcname=str(Path("bench") / path.relative_to(root)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o644
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    data = bytearray(buf.getvalue())
    data[4:8] = b"\0\0\0\0"  # gzip header mtime → 0, so the same source gives the same sha256
    return bytes(data)


def container_script(config: KubernetesConfig, group: RunGroup) -> str:
    """The shell the container runs: unpack the package (unless it is in the image), then exec the entry point."""
    benchmarks = " ".join(shlex.quote(b) for b in group.benchmarks)
    lines = ["set -eu", f"mkdir -p {WORK_MOUNT}/src {WORK_MOUNT}/out"]
    if not config.package_in_image:
        lines += [
            f"tar -xzf {CONFIG_MOUNT}/{PACKAGE_KEY} -C {WORK_MOUNT}/src",
            f'export PYTHONPATH="{WORK_MOUNT}/src${{PYTHONPATH:+:$PYTHONPATH}}"',
        ]
    lines.append(
        f"exec {shlex.quote(config.python)} -m bench.run {benchmarks} "
        f"--config {CONFIG_MOUNT}/{CONFIG_KEY} --output {WORK_MOUNT}/out/results.json"
    )
    return "\n".join(lines) + "\n"


def configmap_manifest(
    config: KubernetesConfig, name: str, labels: dict[str, str], group: RunGroup, payload: bytes | None
) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": config.namespace, "labels": dict(labels)},
        "data": {CONFIG_KEY: json.dumps(group.to_dict(), indent=2) + "\n"},
    }
    if payload is not None:
        manifest["binaryData"] = {PACKAGE_KEY: base64.b64encode(payload).decode("ascii")}
    return manifest


def _pod_env(config: KubernetesConfig, server_version: str | None) -> list[dict[str, Any]]:
    """The container env a Job's and a server's pod share: node/pod names, the HF token from the Secret (never a
    literal), the caches, the run's runtimeClass/variant/version and the site's extra env."""
    cache = CACHE_MOUNT if _has_cache(config) else WORK_MOUNT
    env: list[dict[str, Any]] = [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "BENCH_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "BENCH_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "BENCH_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": config.hf_secret_name, "key": config.hf_secret_key, "optional": True}}},
        {"name": "HF_HOME", "value": f"{cache}/huggingface"},
        {"name": "XDG_CACHE_HOME", "value": f"{cache}/xdg"},
    ]
    if config.runtime_class:
        env.append({"name": "BENCH_RUNTIME_CLASS", "value": config.runtime_class})
    if config.variant:
        env.append({"name": "BENCH_VARIANT", "value": config.variant})
    if server_version:
        env.append({"name": "BENCH_K8S_VERSION", "value": server_version})
    env += [{"name": k, "value": str(v)} for k, v in config.env.items() if k != "HF_TOKEN"]  # the token: Secret only
    return env


def _resources(config: KubernetesConfig, gpus: int) -> dict[str, Any]:
    """cpu/memory requests, the memory limit, and `gpus` nvidia.com/gpu as limit and request (equal, as they must
    be for an extended resource)."""
    resources: dict[str, Any] = {
        "requests": {"cpu": config.cpu, "memory": config.memory},
        "limits": {"memory": config.memory},
    }
    if gpus:
        resources["requests"][GPU_RESOURCE] = str(gpus)
        resources["limits"][GPU_RESOURCE] = str(gpus)
    return resources


def _volumes(config: KubernetesConfig, configmap: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts): the ConfigMap, the work emptyDir, /dev/shm in memory, the model cache, the variant's
    extra volumes."""
    mounts = [
        {"name": "bench-config", "mountPath": CONFIG_MOUNT, "readOnly": True},
        {"name": "work", "mountPath": WORK_MOUNT},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "bench-config", "configMap": {"name": configmap, "defaultMode": 0o444}},
        {"name": "work", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": config.shm_size}},
    ]
    if config.model_cache_pvc:
        volumes.append({"name": "model-cache", "persistentVolumeClaim": {"claimName": config.model_cache_pvc}})
        mounts.append({"name": "model-cache", "mountPath": CACHE_MOUNT})
    elif config.model_cache_host_path:
        volumes.append({"name": "model-cache",
                        "hostPath": {"path": config.model_cache_host_path, "type": "DirectoryOrCreate"}})
        mounts.append({"name": "model-cache", "mountPath": CACHE_MOUNT})
    for extra in config.extra_volumes:
        volumes.append(extra_volume(extra))
        mounts.append({"name": extra.name, "mountPath": extra.mount_path, "readOnly": extra.read_only})
    return volumes, mounts


def _placement(config: KubernetesConfig, pod_spec: dict[str, Any]) -> dict[str, Any]:
    """runtimeClassName, nodeSelector, tolerations, affinity and the service account, where the config has them."""
    if config.runtime_class:
        pod_spec["runtimeClassName"] = config.runtime_class
    if config.node_selector:
        pod_spec["nodeSelector"] = dict(config.node_selector)
    if config.tolerations:
        pod_spec["tolerations"] = copy.deepcopy(config.tolerations)
    if config.affinity:
        pod_spec["affinity"] = copy.deepcopy(config.affinity)
    if config.service_account:
        pod_spec["serviceAccountName"] = config.service_account
    return pod_spec


def _pod_metadata(config: KubernetesConfig, labels: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": labels}
    if config.pod_annotations:
        metadata["annotations"] = dict(config.pod_annotations)
    return metadata


def job_manifest(
    config: KubernetesConfig, name: str, labels: dict[str, str], group: RunGroup, configmap: str,
    server_version: str | None = None, script: str | None = None,
) -> dict[str, Any]:
    pod_labels = {**labels, LABEL_JOB: name}
    gpus = config.gpus
    if group.uses_server:  # the load client: CPU only (the GPUs are the server's, or the endpoint's)
        pod_labels[LABEL_ROLE] = "client"
        gpus = 0
    volumes, mounts = _volumes(config, configmap)
    container: dict[str, Any] = {
        "name": "bench",
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["/bin/sh", "-c", script or container_script(config, group)],
        "workingDir": WORK_MOUNT,
        "env": _pod_env(config, server_version),
        "resources": _resources(config, gpus),
        "volumeMounts": mounts,
    }
    pod_spec = _placement(config, {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": volumes,
    })
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": config.namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(config.deadline_s or group.timeout_s),
            "ttlSecondsAfterFinished": int(config.ttl_s),
            "template": {"metadata": _pod_metadata(config, pod_labels), "spec": pod_spec},
        },
    }


# ---- the serving group's server -------------------------------------------------------------------------------


def server_name(job: str) -> str:
    """The Deployment's and the Service's name: the Job's name + `-srv`, ≤ 63 characters (a Service name is a
    DNS-1035 label), a hash of the Job's name standing in for what is cut."""
    if len(job) + len(SERVER_SUFFIX) <= 63:
        return job + SERVER_SUFFIX
    digest = hashlib.sha256(job.encode()).hexdigest()[:6]
    return f"{job[:63 - len(SERVER_SUFFIX) - 7].rstrip('-')}-{digest}{SERVER_SUFFIX}"


def server_url(config: KubernetesConfig, service: str) -> str:
    """What the client Job reaches the server at: the Service's cluster DNS name (never a port-forward)."""
    return f"http://{service}.{config.namespace}.svc.cluster.local:{SERVER_PORT}"


def server_budget_s(config: KubernetesConfig, group: RunGroup) -> int:
    """How long the server may take to load its model before its startup probe gives up: `server_startup_s`, else
    the serving tasks' `server_timeout_s` (the largest, where the benchmark has one), else 600 s; at least 60 s."""
    budget = config.server_startup_s or group.server_timeout_s or DEFAULT_SERVER_BUDGET_S
    return max(MIN_SERVER_BUDGET_S, int(budget))


def server_script(config: KubernetesConfig, group: RunGroup) -> str:
    """The server container's shell: unpack the package (unless it is in the image), resolve the model as the
    entry point does (the built-in tiny model is built here; a directory or a Hub id as given), then exec vLLM's
    OpenAI-compatible server on 0.0.0.0:8000 with the group's engine arguments as flags."""
    python = shlex.quote(config.python)
    lines = ["set -eu", f"mkdir -p {WORK_MOUNT}/src"]
    if not config.package_in_image:
        lines += [
            f"tar -xzf {CONFIG_MOUNT}/{PACKAGE_KEY} -C {WORK_MOUNT}/src",
            f'export PYTHONPATH="{WORK_MOUNT}/src${{PYTHONPATH:+:$PYTHONPATH}}"',
        ]
    resolve = ("import sys; from bench.models import resolve_model; "
               "print(resolve_model(sys.argv[1], log=lambda m: print(m, file=sys.stderr)))")
    lines.append(f"BENCH_MODEL=$({python} -c {shlex.quote(resolve)} {shlex.quote(group.model)})")
    command = server_command(config.python, MODEL_PLACEHOLDER, group.served_model or group.model, group.engine,
                             "0.0.0.0", SERVER_PORT)
    lines.append("exec " + " ".join('"$BENCH_MODEL"' if a == MODEL_PLACEHOLDER else shlex.quote(a) for a in command))
    return "\n".join(lines) + "\n"


def server_labels(labels: dict[str, str], name: str) -> dict[str, str]:
    """The server pod's labels: the run's, its role, and the Deployment's name (what the Service selects)."""
    return {**labels, LABEL_ROLE: "server", LABEL_JOB: name}


def deployment_manifest(
    config: KubernetesConfig, name: str, labels: dict[str, str], group: RunGroup, configmap: str,
    server_version: str | None = None,
) -> dict[str, Any]:
    """One vLLM server pod on `config.gpus` GPUs, placed as the Jobs are, with probes sized to the model load:
    startup /health every 10 s for the budget (then the kubelet restarts it), readiness /v1/models (the model is
    registered), liveness /health (503 once the engine is dead)."""
    budget = server_budget_s(config, group)
    pod_labels = server_labels(labels, name)
    volumes, mounts = _volumes(config, configmap)

    def probe(path: str, period: int, failures: int, timeout: int = 1) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": SERVER_PORT}, "periodSeconds": period,
                "timeoutSeconds": timeout, "failureThreshold": failures}

    container: dict[str, Any] = {
        "name": SERVER_CONTAINER,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["/bin/sh", "-c", server_script(config, group)],
        "workingDir": WORK_MOUNT,
        "env": _pod_env(config, server_version),
        "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
        "resources": _resources(config, config.gpus),
        "volumeMounts": mounts,
        "startupProbe": probe("/health", STARTUP_PERIOD_S, math.ceil(budget / STARTUP_PERIOD_S)),
        "readinessProbe": probe("/v1/models", 5, 3, timeout=5),
        "livenessProbe": probe("/health", 20, 3, timeout=5),
    }
    pod_spec = _placement(config, {
        "restartPolicy": "Always",
        "enableServiceLinks": False,  # else VLLM_PORT=tcp://… from a Service named vllm crashes vLLM (vllm #15613)
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": volumes,
    })
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": config.namespace, "labels": {**labels, LABEL_ROLE: "server"}},
        "spec": {
            "replicas": 1,
            "progressDeadlineSeconds": budget + 60,
            "strategy": {"type": "Recreate"},  # never two servers on the GPUs at once
            "selector": {"matchLabels": {LABEL_ROLE: "server", LABEL_JOB: name}},
            "template": {"metadata": _pod_metadata(config, pod_labels), "spec": pod_spec},
        },
    }


def service_manifest(config: KubernetesConfig, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """ClusterIP on 8000 → the server pod's 8000."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": config.namespace, "labels": {**labels, LABEL_ROLE: "server"}},
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_ROLE: "server", LABEL_JOB: name},
            "ports": [{"name": "http", "port": SERVER_PORT, "targetPort": SERVER_PORT, "protocol": "TCP"}],
        },
    }


def extra_volume(volume: Volume) -> dict[str, Any]:
    """A variant's volume as a pod volume. A hostPath of type "" (no check before the mount) works for a file — the
    seed site mounts an interceptor libcuda.so.1 — and for a directory alike; a configMap's keys become files."""
    if volume.kind == "hostPath":
        return {"name": volume.name, "hostPath": {"path": volume.source, "type": ""}}
    return {"name": volume.name, "configMap": {"name": volume.source}}


def _has_cache(config: KubernetesConfig) -> bool:
    return bool(config.model_cache_pvc or config.model_cache_host_path)


@dataclass
class GroupManifests:
    """What one group applies: the ConfigMap and the Job, and for a serving group that starts its server the
    Deployment and the Service (the Secret is created separately, never rendered)."""

    name: str
    labels: dict[str, str]
    configmap: dict[str, Any]
    job: dict[str, Any]
    payload_sha256: str | None = None
    payload_size: int = 0
    deployment: dict[str, Any] | None = None
    service: dict[str, Any] | None = None

    @property
    def server(self) -> str | None:
        """The Deployment's (and Service's) name, or None for a group without a server of its own."""
        return self.deployment["metadata"]["name"] if self.deployment else None

    def server_objects(self) -> list[dict[str, Any]]:
        return [o for o in (self.deployment, self.service) if o is not None]

    def objects(self) -> list[dict[str, Any]]:
        return [*self.server_objects(), self.configmap, self.job]

    def for_display(self) -> list[dict[str, Any]]:
        """The manifests as saved and printed: the package payload elided (sha256 and size instead)."""
        configmap = copy.deepcopy(self.configmap)
        if "binaryData" in configmap:
            configmap["binaryData"] = {
                PACKAGE_KEY: f"<bench package tar.gz: {self.payload_size} bytes, sha256 {self.payload_sha256}>"
            }
        return [*copy.deepcopy(self.server_objects()), configmap, copy.deepcopy(self.job)]


def render_group(
    config: KubernetesConfig, group: RunGroup, run_id: str, server_version: str | None = None,
    payload: bytes | None = None, script: str | None = None,
) -> GroupManifests:
    name = job_name(run_id, group)
    labels = run_labels(run_id, group, config.variant)
    if not config.package_in_image and payload is None:
        payload = package_payload()
    if config.package_in_image:
        payload = None
    if payload is not None and len(payload) * 4 // 3 > MAX_CONFIGMAP_PAYLOAD:
        raise ConfigError(f"the bench package is {len(payload)} bytes compressed, too big for a ConfigMap (1 MiB): "
                          f"build the image from the Containerfile and pass --image (package_in_image)")
    deployment = service = None
    if group.starts_server:  # the client reaches the server through its Service, by a name known before applying
        server = server_name(name)
        deployment = deployment_manifest(config, server, labels, group, name, server_version)
        service = service_manifest(config, server, labels)
        group = dataclasses.replace(group, endpoint=server_url(config, server))
    configmap = configmap_manifest(config, name, labels, group, payload)
    job = job_manifest(config, name, labels, group, name, server_version, script)
    return GroupManifests(
        name=name, labels=labels, configmap=configmap, job=job,
        payload_sha256=hashlib.sha256(payload).hexdigest() if payload else None,
        payload_size=len(payload) if payload else 0, deployment=deployment, service=service,
    )


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream: PyYAML when present, else JSON documents (JSON is valid YAML)."""
    try:
        import yaml
    except ImportError:
        return "".join(f"---\n{json.dumps(o, indent=2)}\n" for o in objects)

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, explicit_start=True, width=120)
