"""Engines: how an LLM is reached. One instance per model per process (`EnginePool`), shared by every workload."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench.engines.base import Completion, LLMEngine, Sampling
from bench.errors import ConfigError

__all__ = ["Completion", "EnginePool", "LLMEngine", "Sampling"]

_ENGINE_KINDS = ("vllm",)


class EnginePool:
    """Builds each (kind, model, kwargs) engine at most once and hands the same instance to every caller."""

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self._engines: dict[str, LLMEngine] = {}
        self._log = log
        self.loads = 0

    def get(self, kind: str, model: str, kwargs: dict[str, Any]) -> LLMEngine:
        key = json.dumps([kind, model, kwargs], sort_keys=True, default=str)
        if key not in self._engines:
            self._engines[key] = self._build(kind, model, kwargs)
            self.loads += 1
        return self._engines[key]

    def _build(self, kind: str, model: str, kwargs: dict[str, Any]) -> LLMEngine:
        if kind not in _ENGINE_KINDS:
            raise ConfigError(f"unknown engine {kind!r}: choose one of {', '.join(_ENGINE_KINDS)}")
        from bench.engines.vllm_offline import VllmEngine

        self._log(f"[bench] loading {model} into vLLM with {kwargs} ...")
        engine = VllmEngine(model, kwargs)
        self._log(f"[bench] model loaded in {engine.info.load_s:.1f} s (engine {engine.info.instance_id})")
        return engine

    def loaded(self) -> list[LLMEngine]:
        return list(self._engines.values())

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
