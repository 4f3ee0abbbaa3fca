"""Executors: where a workload runs. Adding one is adding a module and a line in `EXECUTORS`."""

from __future__ import annotations

from bench.errors import ConfigError
from bench.executors.base import Executor
from bench.executors.local import LocalExecutor

EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor}


def get_executor(name: str) -> Executor:
    try:
        return EXECUTORS[name]()
    except KeyError:
        raise ConfigError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}") from None
