"""Where models come from: the built-in tiny model, a local directory, or a Hugging Face model id — and whether one
can be loaded here at all (weights on disk, in the Hugging Face cache, or on a reachable Hub)."""

from __future__ import annotations

import functools
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from bench.errors import ConfigError
from bench.models.tiny import TINY_MODEL_ID, ensure_tiny_model

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
# files that hold a checkpoint's weights (safetensors, PyTorch bins and their shard indexes, GGUF)
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.safetensors.index.json",
                   "*.bin.index.json")
HUB_TIMEOUT_S = 5.0


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


def has_weights(model_dir: str | Path) -> bool:
    """Whether a model directory holds weight files (a directory with only config.json + tokenizer does not)."""
    path = Path(model_dir).expanduser()
    return any(next(path.glob(pattern), None) is not None for pattern in WEIGHT_PATTERNS)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub resolves it (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/...)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def cached_snapshot(model_id: str) -> Path | None:
    """A snapshot of `model_id` in the local Hugging Face cache that has a config and weights, if there is one."""
    snapshots = hf_cache_dir() / f"models--{model_id.replace('/', '--')}" / "snapshots"
    for snapshot in sorted(snapshots.glob("*")) if snapshots.is_dir() else []:
        if (snapshot / "config.json").exists() and has_weights(snapshot):
            return snapshot
    return None


@functools.lru_cache(maxsize=16)
def unavailable_reason(model: str) -> str | None:
    """Why `model` cannot be loaded on this machine, or None when it can: the built-in model, a directory, a copy in
    the Hugging Face cache, or a Hub that answers for it (with $HF_TOKEN for gated models)."""
    if model == TINY_MODEL_ID or looks_like_path(model) or cached_snapshot(model) is not None:
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return f"{model} is not in the local Hugging Face cache ({hf_cache_dir()}) and HF_HUB_OFFLINE is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    request = urllib.request.Request(f"{endpoint}/{model}/resolve/main/config.json", method="HEAD")
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            access = "HF_TOKEN has no access to it" if token else "it is gated and HF_TOKEN is not set"
            return f"{model} is not in the local Hugging Face cache and the Hub refuses it ({exc.code}: {access})"
        return f"{model} is not in the local Hugging Face cache and the Hub answers {exc.code} for it"
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        return f"{model} is not in the local Hugging Face cache and the Hub ({endpoint}) cannot be reached ({why})"


def require_loadable(model: str) -> None:
    """ConfigError with the fix when `model` cannot be loaded here (see `unavailable_reason`)."""
    reason = unavailable_reason(model)
    if reason:
        raise ConfigError(f"cannot load the model: {reason}. Fix: pass --model DIR with a local copy (or a "
                          f"config-only directory from `bench build-model --shape ...` for speed runs), or set "
                          f"HF_TOKEN with access to {model} on a machine that reaches the Hub")
