"""The embedded default model: a tiny Llama built deterministically on this machine.

Random weights and a byte-level BPE tokenizer trained on bundled text. It exercises every code path a real model
does (tokenizer, scheduler, attention kernels, sampler) without a download; it says nothing about model quality.

Shape notes (checked on vLLM's CPU build, see ENVIRONMENT.md): the CPU attention kernels reject head_dim 16, so
hidden_size / num_attention_heads is kept at 64.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

TINY_MODEL_ID = "builtin:tiny-llama"
# Bump when anything below changes what gets built: the cache key includes it.
BUILDER_VERSION = 1
SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"]


@dataclass(frozen=True)
class TinyModelSpec:
    vocab_size: int = 512
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    max_position_embeddings: int = 8192
    seed: int = 0


def corpus_text() -> str:
    return resources.files("bench.data").joinpath("corpus/tiny_corpus.txt").read_text(encoding="utf-8")


def cache_root() -> Path:
    """Where built models live: $KCLOUD_MLPERF_CACHE, else $XDG_CACHE_HOME/kcloud-mlperf, else ~/.cache/..."""
    explicit = os.environ.get("KCLOUD_MLPERF_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kcloud-mlperf"


def spec_digest(spec: TinyModelSpec) -> str:
    key = json.dumps({"builder": BUILDER_VERSION, "spec": asdict(spec), "corpus": corpus_text()}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def tiny_model_dir(spec: TinyModelSpec | None = None, root: Path | None = None) -> Path:
    spec = spec or TinyModelSpec()
    return (root or cache_root()) / "models" / f"tiny-llama-{spec_digest(spec)}"


def ensure_tiny_model(spec: TinyModelSpec | None = None, root: Path | None = None, log=print) -> Path:
    """Return the directory of the tiny model, building it first if it is not cached yet."""
    spec = spec or TinyModelSpec()
    target = tiny_model_dir(spec, root)
    if (target / "BUILD_OK").exists():
        return target
    log(f"building the tiny model (random weights, tokenizer trained on bundled text) in {target} ...")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target and rename, so a concurrent or interrupted build never leaves a half model behind.
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        build_tiny_model(staging, spec)
        (staging / "BUILD_OK").write_text(spec_digest(spec) + "\n")
        try:
            staging.rename(target)
        except OSError:
            if not (target / "BUILD_OK").exists():  # lost a race to a complete build: fine; anything else: raise
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tiny_model(out_dir: Path, spec: TinyModelSpec) -> None:
    """Write tokenizer + config + safetensors weights to out_dir. Same spec → byte-identical files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out_dir, spec.vocab_size, spec.max_position_embeddings)
    _build_weights(out_dir, spec)


def build_tokenizer(out_dir: Path, vocab_size: int, model_max_length: int) -> None:
    """A byte-level BPE tokenizer trained on the bundled corpus (deterministic), saved in Hugging Face format."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus_text().splitlines(), trainer=trainer)
    bos = SPECIAL_TOKENS[0]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=SPECIAL_TOKENS[0],
        eos_token=SPECIAL_TOKENS[1],
        pad_token=SPECIAL_TOKENS[2],
        model_max_length=model_max_length,
    )
    fast.save_pretrained(out_dir)


def _build_weights(out_dir: Path, spec: TinyModelSpec) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(out_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = LlamaForCausalLM(config)
    model = model.to(torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
