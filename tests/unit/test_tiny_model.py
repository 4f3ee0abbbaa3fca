"""The embedded tiny model: built deterministically (byte-identical across processes), cached, reused."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from bench.models.tiny import TinyModelSpec, ensure_tiny_model, spec_digest, tiny_model_dir

BUILD = "import sys; from pathlib import Path; from bench.models.tiny import *; " \
        "build_tiny_model(Path(sys.argv[1]), TinyModelSpec())"


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_two_builds_in_separate_processes_are_byte_identical(tmp_path: Path) -> None:
    repo = str(Path(__file__).resolve().parents[2])
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-c", BUILD, str(tmp_path / name)], check=True, cwd=repo,
                       capture_output=True)
    first, second = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert first == second
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(first)


def test_built_model_has_the_documented_shape(tmp_path: Path) -> None:
    model_dir = ensure_tiny_model(root=tmp_path, log=lambda _: None)
    config = json.loads((model_dir / "config.json").read_text())
    spec = TinyModelSpec()
    assert config["model_type"] == "llama"
    assert config["hidden_size"] // config["num_attention_heads"] == 64  # vLLM CPU kernels reject head_dim 16
    assert config["vocab_size"] == spec.vocab_size
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    assert len(tokenizer["model"]["vocab"]) == spec.vocab_size


def test_cache_is_reused_and_keyed_on_the_spec(tmp_path: Path) -> None:
    messages: list[str] = []
    first = ensure_tiny_model(root=tmp_path, log=messages.append)
    second = ensure_tiny_model(root=tmp_path, log=messages.append)
    assert first == second == tiny_model_dir(root=tmp_path)
    assert len(messages) == 1 and "building the tiny model" in messages[0]
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".building-")]
    assert spec_digest(TinyModelSpec(num_hidden_layers=3)) != spec_digest(TinyModelSpec())
