"""The OpenAI-compatible HTTP engine: an endpoint (a vLLM server we started, one on the cluster, or `--endpoint`)
reached over `/v1/completions` (or `/v1/chat/completions`) with streaming, plus the checks that come before a load.

- `Endpoint.check()` (blocking, standard library only): `/v1/models` must answer within a few seconds and list the
  served model (with none given, the only one it lists), then a 1-token completion must succeed — a server that is
  "ready" but cannot serve fails here, with the URL and what it said.
- `Endpoint.stream(session, prompt, ...)` (asyncio + aiohttp): one streamed request into a RequestRecord — the time
  of every chunk that carries a choice (the first is the first token), the end, the token counts from the server's
  `usage` (`stream_options.include_usage`), and on failure an error kind: `http <code>`, `timeout`, `connection`,
  `stream error` (an `error` object in the stream, which is a failure even after a 200), `incomplete` (no [DONE]).
- `Endpoint.scrape()`: the server's `/metrics` (bench/metrics/prometheus.py), or None where it has none.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError
from bench.metrics import prometheus
from bench.metrics.serving import RequestRecord

CHECK_TIMEOUT_S = 5.0
APIS = ("completions", "chat")


class EndpointError(BenchError):
    """The endpoint cannot be used: unreachable, not serving the model, or failing requests."""


def _request(url: str, body: dict[str, Any] | None = None, timeout_s: float = CHECK_TIMEOUT_S) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _unreachable(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.timeout | TimeoutError):
        text = f"no answer within {CHECK_TIMEOUT_S:g} s"
    elif isinstance(reason, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(reason, socket.gaierror):
        text = f"unknown host ({reason.strerror})"
    else:
        text = str(reason)
    return text


@dataclass
class Endpoint:
    base_url: str  # http://host:port (no /v1)
    model: str | None = None  # the served model name; None: the only one /v1/models lists
    api: str = "completions"

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[: -len("/v1")]
        if not self.base_url.startswith(("http://", "https://")):
            raise EndpointError(f"endpoint {self.base_url!r} is not an http(s) URL: give it as http://HOST:PORT")
        if self.api not in APIS:
            raise EndpointError(f"api {self.api!r}: choose one of {', '.join(APIS)}")

    # ---- blocking checks ---------------------------------------------------------------------------------------

    def health(self, timeout_s: float = 2.0) -> bool:
        """Whether GET /health answers 200."""
        try:
            return _request(f"{self.base_url}/health", timeout_s=timeout_s)[0] == 200
        except (OSError, urllib.error.URLError):
            return False

    def models(self, timeout_s: float = CHECK_TIMEOUT_S) -> list[str]:
        url = f"{self.base_url}/v1/models"
        try:
            status, text = _request(url, timeout_s=timeout_s)
        except (OSError, urllib.error.URLError) as exc:
            raise EndpointError(f"cannot reach the OpenAI-compatible endpoint {self.base_url}: "
                                f"{_unreachable(exc)} (is the server running, and is the URL right?)") from None
        if status != 200:
            raise EndpointError(f"{url} answered HTTP {status}: {text.strip()[:200]}")
        try:
            return [m["id"] for m in json.loads(text)["data"]]
        except (ValueError, KeyError, TypeError):
            raise EndpointError(f"{url} did not answer an OpenAI model list: {text.strip()[:200]}") from None

    def resolve_model(self, timeout_s: float = CHECK_TIMEOUT_S) -> str:
        """The served model name to send: the given one, which /v1/models must list, or the only one it lists."""
        listed = self.models(timeout_s)
        if self.model is None:
            if len(listed) != 1:
                raise EndpointError(f"{self.base_url} serves {len(listed)} models ({', '.join(listed) or 'none'}): "
                                    f"name one with --served-model")
            self.model = listed[0]
        elif self.model not in listed:
            raise EndpointError(f"{self.base_url} does not serve a model named {self.model!r}; it lists: "
                                f"{', '.join(listed) or 'no models'} (pass one of them with --served-model)")
        return self.model

    def check(self, timeout_s: float = 60.0) -> str:
        """/v1/models lists the model, and a 1-token completion works; returns the model name."""
        model = self.resolve_model()
        try:
            status, text = _request(self.url, self.body([0, 1, 2, 3], max_tokens=1, stream=False), timeout_s)
        except (OSError, urllib.error.URLError) as exc:
            raise EndpointError(f"{self.url}: the 1-token test completion failed: {_unreachable(exc)}") from None
        if status != 200:
            raise EndpointError(f"{self.url}: a 1-token test completion failed with HTTP {status}: "
                                f"{text.strip()[:300]}")
        return model

    # ---- requests ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1/{'chat/completions' if self.api == 'chat' else 'completions'}"

    def body(self, prompt: list[int] | str, max_tokens: int, stream: bool = True, ignore_eos: bool = True,
             temperature: float = 0.0) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": temperature,
                                "ignore_eos": ignore_eos, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        if self.api == "chat":
            body["messages"] = [{"role": "user", "content": prompt if isinstance(prompt, str) else
                                 " ".join(map(str, prompt))}]
        else:
            body["prompt"] = prompt
        return body

    async def stream(self, session: Any, record: RequestRecord, prompt: list[int] | str, max_tokens: int,
                     clock: Any, timeout_s: float) -> RequestRecord:
        """Send one streamed request and fill `record` (times from `clock()`, seconds)."""
        import aiohttp

        body = self.body(prompt, max_tokens)
        record.sent = clock()
        done = False
        try:
            async with session.post(self.url, json=body, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                if response.status != 200:
                    text = (await response.text())[:300]
                    record.error_kind, record.error = f"http {response.status}", text.strip()
                    return record
                buffer = b""
                async for piece in response.content.iter_any():
                    now = clock()
                    buffer += piece
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        done = self._line(line.strip(), record, now) or done
                        if record.error_kind:
                            return record
        except TimeoutError:
            record.error_kind, record.error = "timeout", f"no complete answer within {timeout_s:g} s"
            return record
        except aiohttp.ClientConnectionError as exc:
            record.error_kind, record.error = "connection", str(exc) or type(exc).__name__
            return record
        except aiohttp.ClientError as exc:
            record.error_kind, record.error = "client error", str(exc) or type(exc).__name__
            return record
        except asyncio.CancelledError:
            record.error_kind, record.error = "cancelled", "stopped before it finished"
            raise
        record.end = clock()
        if not done:
            record.error_kind, record.error = "incomplete", "the stream ended without [DONE]"
        elif record.first_token is None:
            record.error_kind, record.error = "empty", "the stream carried no tokens"
        else:
            record.ok = True
            if not record.output_tokens:
                record.output_tokens = len(record.chunks)
        return record

    def _line(self, line: bytes, record: RequestRecord, now: float) -> bool:
        """Handle one SSE line; True at [DONE]."""
        if not line.startswith(b"data:"):
            return False
        data = line[5:].strip()
        if data == b"[DONE]":
            return True
        try:
            event = json.loads(data)
        except ValueError:
            record.error_kind, record.error = "stream error", f"unparsable chunk: {data[:100]!r}"
            return False
        if not isinstance(event, dict):
            record.error_kind, record.error = "stream error", f"a chunk that is not a JSON object: {data[:100]!r}"
            return False
        if "error" in event:
            error = event["error"]
            record.error_kind = "stream error"
            record.error = str(error.get("message", error) if isinstance(error, dict) else error)[:300]
            return False
        choices = event.get("choices")
        if choices and _carries_token(choices[0]):
            if record.first_token is None:
                record.first_token = now
            record.chunks.append(now)
        usage = event.get("usage")
        if usage:
            record.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            record.output_tokens = int(usage.get("completion_tokens") or 0)
        return False

    # ---- server-side figures -----------------------------------------------------------------------------------

    def scrape(self, timeout_s: float = 2.0) -> dict[str, float] | None:
        """The server's /metrics as totals per metric name, or None where it does not answer them."""
        try:
            status, text = _request(f"{self.base_url}/metrics", timeout_s=timeout_s)
        except (OSError, urllib.error.URLError):
            return None
        return prometheus.parse(text) if status == 200 else None


def _carries_token(choice: Any) -> bool:
    """Whether a streamed choice is a generated token's chunk. As `vllm bench serve` counts them: every chunk with a
    choice, also one whose text is empty (a token that decodes to nothing yet: a partial UTF-8 sequence, which random
    weights produce often) — except a chat stream's opening role-only chunk, which carries no token."""
    if not isinstance(choice, dict):
        return False
    delta = choice.get("delta")
    if isinstance(delta, dict) and "role" in delta:
        return bool(delta.get("content") or delta.get("reasoning_content"))
    return True

