"""Executors: where a workload runs. Adding one is adding a module and a line in `EXECUTORS`."""

from __future__ import annotations

from typing import Any

from bench.errors import ConfigError
from bench.executors.base import Executor
from bench.executors.kubernetes import KubernetesExecutor
from bench.executors.local import LocalExecutor

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "kubernetes": KubernetesExecutor}


def get_executor(name: str, options: dict[str, Any] | None = None) -> Executor:
    """The executor `name`; `options` (e.g. the kubernetes executor's namespace, gpus) go to its constructor."""
    try:
        cls = EXECUTORS[name]
    except KeyError:
        raise ConfigError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}") from None
    return cls(**{k: v for k, v in (options or {}).items() if v is not None})
