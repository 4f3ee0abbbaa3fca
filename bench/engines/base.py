"""What every LLM engine offers a workload: generate from text prompts or token ids with sampling parameters."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Prompt = str | list[int]


@dataclass(frozen=True)
class Sampling:
    """Engine-neutral sampling parameters (the subset our benchmarks use)."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    ignore_eos: bool = False
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Completion:
    prompt_tokens: int
    output_token_ids: Sequence[int]
    text: str
    finish_reason: str | None = None

    @property
    def output_tokens(self) -> int:
        return len(self.output_token_ids)


@dataclass
class EngineInfo:
    kind: str
    model: str
    kwargs: dict[str, Any]
    load_s: float = 0.0
    instance_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class LLMEngine(ABC):
    info: EngineInfo

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[Completion]:
        """Generate one completion per prompt, in order."""

    @abstractmethod
    def tokenizer(self) -> Any:
        """The model's tokenizer (Hugging Face interface)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the engine's resources."""
