"""What a workload receives (WorkloadContext) and returns (Measurement)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.engines import EnginePool, LLMEngine


@dataclass
class Measurement:
    """A workload's output: flat metrics plus config entries worth recording (sizes, seeds, hashes)."""

    metrics: dict[str, float]
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class WorkloadContext:
    model: str
    engine_kind: str
    engine_kwargs: dict[str, Any]
    pool: EnginePool
    artifacts_dir: Path  # per-sample records and other files that belong to this run
    log: Callable[[str], None] = print
    endpoint: str | None = None  # serving: the OpenAI-compatible server's base URL (RunGroup.endpoint)
    served_model: str | None = None  # and the name it serves the model under (None: the only one it lists)

    def llm(self) -> LLMEngine:
        """The profile's LLM, loaded once per process and shared by every workload that asks for it."""
        return self.pool.get(self.engine_kind, self.model, self.engine_kwargs)
