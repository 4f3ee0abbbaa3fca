"""Model directories with a real architecture and no weights, for speed benchmarks where the weights are not here.

    bench build-model --shape llama3.1-8b DIR

writes DIR/config.json (the architecture exactly as the published checkpoint's config.json has it), a tokenizer
(byte-level BPE trained on the bundled text, as the tiny model's) and `kcloud-mlperf-shape.json` saying what it is.
No weight files: `--model DIR` then runs with vLLM's `load_format=dummy` (random values in the real shapes), so
throughput and latency are real and text is not. The speed of a model does not depend on its weight values; it does
depend on the architecture, which is why these numbers come from the checkpoints' own configs.

The tokenizer is not the checkpoint's (Llama 3's is gated and not on the machine): its vocabulary is small, so
random prompts draw their token ids from it — the embedding lookup costs the same for any id — while the model keeps
the real vocabulary size, so the output layer and the sampler do the real work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.models.tiny import SPECIAL_TOKENS, TinyModelSpec, build_tokenizer

MARKER = "kcloud-mlperf-shape.json"
TOKENIZER_VOCAB = 512

_LLAMA31_ROPE = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                 "original_max_position_embeddings": 8192, "rope_type": "llama3"}
_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
          "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False, "initializer_range": 0.02,
          "pretraining_tp": 1, "rms_norm_eps": 1e-05, "use_cache": True, "torch_dtype": "bfloat16"}

# name -> (source checkpoint, its config.json's architecture fields)
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama3.1-8b": ("meta-llama/Llama-3.1-8B-Instruct", {
        **_LLAMA, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
        "max_position_embeddings": 131072, "rope_theta": 500000.0, "rope_scaling": _LLAMA31_ROPE,
        "tie_word_embeddings": False}),
    "llama3.1-70b": ("meta-llama/Llama-3.1-70B-Instruct", {
        **_LLAMA, "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
        "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
        "max_position_embeddings": 131072, "rope_theta": 500000.0, "rope_scaling": _LLAMA31_ROPE,
        "tie_word_embeddings": False}),
    "llama3.2-1b": ("meta-llama/Llama-3.2-1B-Instruct", {
        **_LLAMA, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
        "max_position_embeddings": 131072, "rope_theta": 500000.0,
        "rope_scaling": {**_LLAMA31_ROPE, "factor": 32.0}, "tie_word_embeddings": True}),
    # the embedded tiny model's architecture (bench/models/tiny.py), for quick dummy-weight runs on a CPU
    "tiny": ("the embedded tiny model", {
        **_LLAMA, "hidden_size": TinyModelSpec.hidden_size, "intermediate_size": TinyModelSpec.intermediate_size,
        "num_hidden_layers": TinyModelSpec.num_hidden_layers, "num_attention_heads": TinyModelSpec.num_attention_heads,
        "num_key_value_heads": TinyModelSpec.num_key_value_heads, "vocab_size": TinyModelSpec.vocab_size,
        "max_position_embeddings": TinyModelSpec.max_position_embeddings, "rope_theta": 10000.0,
        "tie_word_embeddings": False}),
}


def build_shape(name: str, out_dir: Path, log=print) -> Path:
    """Write a weightless model directory of shape `name` to `out_dir` (replacing an earlier shape directory)."""
    if name not in SHAPES:
        raise ConfigError(f"unknown shape {name!r}: choose one of {', '.join(SHAPES)}")
    source, architecture = SHAPES[name]
    out_dir = out_dir.expanduser().resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MARKER).exists():
            raise ConfigError(f"{out_dir} exists and is not empty: give a new directory (an earlier "
                              f"`bench build-model --shape` directory is replaced)")
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log(f"writing the {name} architecture (as {source} has it) and a tokenizer to {out_dir}; no weights")
    build_tokenizer(out_dir, TOKENIZER_VOCAB, architecture["max_position_embeddings"])
    ids = {token: _token_id(out_dir, token) for token in SPECIAL_TOKENS}
    config = {**architecture, "bos_token_id": ids["<|begin_of_text|>"], "eos_token_id": ids["<|end_of_text|>"],
              "pad_token_id": ids["<|pad|>"]}
    (out_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out_dir / MARKER).write_text(json.dumps({
        "shape": name, "architecture_from": source, "weights": "none: run with vLLM load_format=dummy",
        "tokenizer": f"byte-level BPE ({TOKENIZER_VOCAB} tokens) trained on kcloud-mlperf's bundled text, "
                     f"not {source}'s",
    }, indent=2) + "\n")
    return out_dir


def _token_id(model_dir: Path, token: str) -> int:
    vocab = json.loads((model_dir / "tokenizer.json").read_text())
    for added in vocab.get("added_tokens", []):
        if added["content"] == token:
            return int(added["id"])
    return int(vocab["model"]["vocab"][token])
