"""What makes two results the same measurement: a result's identity (model, sizes, parameters, engine settings), its
hardware fingerprint (GPU model/count/memory, driver, CUDA, MIG, node type; the CPU model on a CPU run), and the
history key = hash(benchmark, scenario, config hash, hardware fingerprint) that the store indexes, so that history
and comparisons only ever set like beside like (Conbench's history fingerprint, see reference/).

`bench compare` between repeats uses `identity` to refuse runs that measured different things; the store uses the
hashes. Both name the first field that differs (`differences`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from bench.environment import gpu_name
from bench.results.schema import Result
from bench.workloads import BENCHMARKS

# config fields that change from run to run without changing what is measured (a port, a resolved path)
VOLATILE = frozenset({"endpoint", "tokenizer", "model", "engine_load"})


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity(result: Result) -> dict[str, Any]:
    """The fields two results must share to be compared: the model asked for (and the weights used), the size
    class and every workload parameter recorded (the sizes), the device kind and the GPU model. Fields a result does
    not record (an errored run has no workload config) are left out. Engine arguments and the runtime itself are
    not compared: they are what an overhead candidate may change."""
    config = result.config
    model = config.get("model")
    # the model as the profile or --model named it (a result the executor made up for a lost task has only "model")
    fields: dict[str, Any] = {"model": config.get("profile_model", model if isinstance(model, str) else None)}
    if isinstance(model, dict):  # resnet50: where the weights came from
        fields["model weights"] = model.get("weights_sha256") or model.get("weights")
    fields["weights"] = config.get("weights")
    fields["size"] = config.get("size")
    info = BENCHMARKS.get(result.benchmark)
    params = getattr(info.load(), "Params", None) if info else None
    if params is not None and dataclasses.is_dataclass(params):
        fields.update({f.name: config[f.name] for f in dataclasses.fields(params)
                       if f.name in config and f.name not in VOLATILE})
    if result.environment:
        fields["device"] = result.environment.get("device")
        fields["GPU model"] = gpu_name(result.environment)
        if result.environment.get("device") == "cpu":  # a CPU run's speed is the CPU's
            fields["CPU model"] = result.environment.get("cpu")
    return {k: v for k, v in fields.items() if v is not None}


def config_identity(result: Result) -> dict[str, Any]:
    """What the config hash covers: the identity without the hardware (that is the fingerprint's), plus the
    engine settings (tensor parallelism, dtype, max_model_len ... change the numbers) and the variant."""
    fields = {k: v for k, v in identity(result).items() if k not in {"device", "GPU model", "CPU model"}}
    engine = result.config.get("engine")
    if isinstance(engine, dict):
        fields["engine"] = {k: v for k, v in engine.items() if k not in VOLATILE}
    if result.variant:
        fields["variant"] = result.variant
    return fields


def hardware(environment: dict[str, Any]) -> dict[str, Any]:
    """The hardware fingerprint's fields from a result's environment block."""
    gpu = environment.get("gpu") if isinstance(environment.get("gpu"), dict) else {}
    k8s = environment.get("kubernetes") if isinstance(environment.get("kubernetes"), dict) else {}
    fields = {
        "device": environment.get("device"),
        "gpu_model": gpu.get("name"),
        "gpu_count": gpu.get("count"),
        "gpu_memory_mib": gpu.get("memory_mib"),
        "driver": gpu.get("driver"),
        "cuda": gpu.get("cuda"),
        "mig": gpu.get("mig"),
        "node_type": k8s.get("node_type"),
    }
    if environment.get("device") == "cpu" or not gpu:
        fields["cpu_model"] = environment.get("cpu")
        fields["cpu_count"] = environment.get("cpu_count")
    return {k: v for k, v in fields.items() if v is not None}


def config_hash(result: Result) -> str:
    return _digest(config_identity(result))


def hardware_id(environment: dict[str, Any]) -> str:
    return _digest(hardware(environment))


def history_key(result: Result) -> str:
    return _digest([result.benchmark, result.scenario, config_hash(result), hardware_id(result.environment)])


def differences(a: Result, b: Result) -> list[str]:
    """`FIELD differs (A: x, B: y)` for each field in which two results' history keys differ (config, then
    hardware); empty when they share a history key."""
    out = []
    for left, right in ((config_identity(a), config_identity(b)), (hardware(a.environment), hardware(b.environment))):
        for name in dict.fromkeys([*left, *right]):
            if left.get(name) != right.get(name):
                out.append(f"{name} differs (A: {left.get(name, '–')}, B: {right.get(name, '–')})")
    if (a.benchmark, a.scenario) != (b.benchmark, b.scenario):
        out.insert(0, f"benchmark differs (A: {a.key}, B: {b.key})")
    return out
