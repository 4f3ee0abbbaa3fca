"""Where a model comes from and whether it can load here: weightless shape directories (random weights, the gates
that apply), the Hugging Face cache, and the Hub — a local HTTP server stands in for huggingface.co."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.models import has_weights, require_loadable, unavailable_reason
from bench.models.shapes import MARKER, SHAPES, build_shape
from bench.plan import build_plan
from bench.profiles import VALIDITY_GATES, get_profile

LLAMA = get_profile("llama3.1-8b")
MODEL_ID = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def shape_8b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_shape("llama3.1-8b", tmp_path_factory.mktemp("shape") / "llama8b", log=lambda _: None)


def test_shape_directory_has_the_real_architecture_and_no_weights(shape_8b: Path) -> None:
    config = json.loads((shape_8b / "config.json").read_text())
    assert {k: config[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                                   "intermediate_size", "vocab_size")} == {
        "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "intermediate_size": 14336, "vocab_size": 128256}
    assert config["rope_scaling"]["rope_type"] == "llama3" and config["architectures"] == ["LlamaForCausalLM"]
    assert (shape_8b / "tokenizer.json").exists() and json.loads((shape_8b / MARKER).read_text())["shape"] == \
        "llama3.1-8b"
    assert not has_weights(shape_8b)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(shape_8b)
    assert tokenizer.eos_token_id == config["eos_token_id"] and tokenizer.bos_token_id == config["bos_token_id"]


def test_shape_refuses_a_directory_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_text("weights")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        build_shape("llama3.1-8b", tmp_path, log=lambda _: None)
    with pytest.raises(ConfigError, match=r"unknown shape 'gpt5': choose one of llama3\.1-8b"):
        build_shape("gpt5", tmp_path / "new", log=lambda _: None)
    assert set(SHAPES) >= {"llama3.1-8b", "llama3.1-70b", "tiny"}


def test_a_weightless_directory_runs_dummy_and_gives_up_quality_gates_not_speed_gates(shape_8b: Path) -> None:
    requested = [("llm_throughput", "offline"), ("summarization", "offline"), ("mmlu_pro", "offline")]
    [group] = build_plan(requested, LLAMA, model=str(shape_8b))
    assert group.engine["load_format"] == "dummy"
    assert group.weights.startswith("random (vLLM load_format=dummy") and not group.claims_quality
    assert any("random weights" in n and "speed gates apply" in n for n in group.notes)
    gates = {t.key: t.thresholds for t in group.tasks}
    assert gates["summarization/offline"] == VALIDITY_GATES["summarization"]["offline"]
    assert gates["mmlu_pro/offline"] == VALIDITY_GATES["mmlu_pro"]["offline"]
    assert gates["llm_throughput/offline"] == LLAMA.thresholds["llm_throughput"]["offline"]  # speed gates apply
    assert "rougeL" in LLAMA.thresholds["summarization"]["offline"]["default"]  # ... where the weights are real


def test_explicit_dummy_on_a_real_checkpoint_is_random_weights_too(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_text("weights")
    [real] = build_plan([("summarization", "offline")], LLAMA, model=str(tmp_path))
    assert real.weights is None and "load_format" not in real.engine and real.claims_quality is False  # not profile
    [dummy] = build_plan([("summarization", "offline")], LLAMA, model=str(tmp_path),
                         engine_args={"load_format": "dummy"})
    assert dummy.weights == "random (vLLM load_format=dummy; --engine-arg load_format=dummy)"
    assert dummy.tasks[0].thresholds == VALIDITY_GATES["summarization"]["offline"]


class _Hub(BaseHTTPRequestHandler):
    """Answers HEAD /<repo>/resolve/main/config.json as huggingface.co does: 200 with a token, 401 without."""

    def do_HEAD(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        authorized = self.headers.get("Authorization") == "Bearer hf_good"
        self.send_response(200 if authorized else 401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    unavailable_reason.cache_clear()
    yield server
    unavailable_reason.cache_clear()
    server.shutdown()


def test_gated_model_without_token_names_hf_token(hub: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = unavailable_reason(MODEL_ID)
    assert reason and "the Hub refuses it (401: it is gated and HF_TOKEN is not set)" in reason
    assert hub.requests == [(f"/{MODEL_ID}/resolve/main/config.json", None)]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"pass --model DIR .* or set HF_TOKEN"):
        require_loadable(MODEL_ID)
    monkeypatch.setenv("HF_TOKEN", "hf_good")
    unavailable_reason.cache_clear()
    assert unavailable_reason(MODEL_ID) is None


def test_cached_snapshot_and_offline_mode(hub: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE is set" in (unavailable_reason(MODEL_ID) or "")
    snapshot = tmp_path / "hf" / "hub" / "models--meta-llama--Llama-3.1-8B-Instruct" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model-00001-of-00004.safetensors").write_text("w")
    unavailable_reason.cache_clear()
    assert unavailable_reason(MODEL_ID) is None
    assert hub.requests == []  # type: ignore[attr-defined]  # answered from the cache, never asked the Hub


def test_unreachable_hub_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    unavailable_reason.cache_clear()
    assert "cannot be reached" in (unavailable_reason(MODEL_ID) or "")
    unavailable_reason.cache_clear()
