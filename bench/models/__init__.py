"""Where models come from: the built-in tiny model, a local directory, or a Hugging Face model id."""

from __future__ import annotations

import re
from pathlib import Path

from bench.errors import ConfigError
from bench.models.tiny import TINY_MODEL_ID, ensure_tiny_model

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


def looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or not _HF_ID.match(model)


def check_model(model: str) -> None:
    """Reject, before anything runs, a model that is neither built in, an existing directory, nor a hub id."""
    if model == TINY_MODEL_ID:
        return
    if looks_like_path(model):
        path = Path(model).expanduser()
        if not path.exists():
            raise ConfigError(
                f"model path {model} does not exist: pass an existing model directory or a Hugging Face id "
                f"(e.g. meta-llama/Llama-3.1-8B-Instruct) with --model"
            )
        if not (path / "config.json").exists():
            raise ConfigError(f"model path {model} has no config.json: point --model at a Hugging Face model directory")


def resolve_model(model: str, log=print) -> str:
    """What to hand the engine: a directory (building the tiny model if needed) or a hub id."""
    check_model(model)
    if model == TINY_MODEL_ID:
        return str(ensure_tiny_model(log=log))
    if looks_like_path(model):
        return str(Path(model).expanduser().resolve())
    return model
