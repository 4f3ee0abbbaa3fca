"""The default profile on a GPU machine: llama3.1-8b when its model can load, else the tiny model on the GPU with the
reason in the header; an explicit --profile llama3.1-8b fails with the fix instead.

There is no GPU in CI: the device probe and the installed vLLM distribution are stand-ins here (the real GPU path
is run on the GPU machine; see the README's GPU section)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import suite
from bench.environment import DeviceProbe
from bench.errors import ConfigError
from bench.models import unavailable_reason
from bench.suite import SuiteRun, choose

H200 = DeviceProbe(kind="cuda", name="NVIDIA H200", count=1, driver="580.159.04")


@pytest.fixture
def gpu_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(suite, "probe_device", lambda: H200)
    monkeypatch.setattr(suite, "vllm_distribution", lambda: ("vllm", "0.25.0"))
    monkeypatch.setattr(suite, "describe_engine", lambda: "vLLM 0.25.0 in-process (CUDA build, distribution vllm)")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: the Hub is unreachable
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    unavailable_reason.cache_clear()


def test_gpu_default_falls_back_to_tiny_and_says_why(gpu_machine: None) -> None:
    choices = choose(None, "local")
    assert choices.profile.name == "tiny"
    lines = "\n".join(choices.lines())
    assert "profile:  tiny (the GPU default llama3.1-8b cannot load its model here" in lines
    [warning] = [line for line in choices.lines() if line.startswith("warning:")]
    assert "default profile llama3.1-8b not used: meta-llama/Llama-3.1-8B-Instruct is not in the local Hugging " \
           "Face cache and the Hub (http://127.0.0.1:9) cannot be reached" in warning
    assert "pass --model DIR or set HF_TOKEN" in warning


def test_gpu_default_stays_llama_with_a_model_or_a_cluster(gpu_machine: None, tmp_path: Path) -> None:
    assert choose(None, "local", model=str(tmp_path)).profile.name == "llama3.1-8b"
    assert choose(None, "kubernetes").profile.name == "llama3.1-8b"  # the pods load it, not this machine
    assert choose(None, "local").fallback is not None


def test_explicit_llama_profile_fails_loudly_with_the_fix(gpu_machine: None, tmp_path: Path) -> None:
    choices = choose("llama3.1-8b", "local")
    assert choices.profile.name == "llama3.1-8b" and choices.fallback is None
    with pytest.raises(ConfigError) as exc:
        SuiteRun.prepare([("llm_throughput", "offline")], choices, tmp_path / "results")
    message = str(exc.value)
    assert message.startswith("cannot load the model: meta-llama/Llama-3.1-8B-Instruct is not in the local")
    assert "pass --model DIR" in message and "HF_TOKEN" in message
    assert not (tmp_path / "results").exists()  # nothing ran, no run directory
