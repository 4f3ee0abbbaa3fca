"""A TEST STAND-IN for an OpenAI-compatible vLLM server — not a model server: it streams made-up tokens with
controlled delays, so that the serving client's metric definitions (TTFT, TPOT, ITL, goodput, schedule lag) and its
failure handling can be checked against known numbers without a real vLLM (tests/unit/test_load_client.py).

It takes vLLM's command line (`python -m vllm.entrypoints.openai.api_server --model M --served-model-name NAME
--host H --port P ...`; every other vLLM flag, with or without a value, is ignored), so it can stand in for vLLM in
a pod, plus its own `--fake-*` options:

- `--fake-ttft-ms` (20): delay from admission to the first chunk; `--fake-itl-ms` (5): delay between chunks. Chunk i
  is due at admission + ttft + i·itl (absolute times, so the delays do not accumulate sleep overhead).
- `--fake-startup-s` (0): /health, /v1/models and the completion APIs answer 503 until then.
- `--fake-fail-every N`: every Nth completion request answers HTTP 500 (0: never).
- `--fake-stream-error-every N`: every Nth completion request sends `data: {"error": {...}}` mid-stream (after half
  its tokens), then `data: [DONE]`, as vLLM does when generation fails after the 200 went out.
- `--fake-die-after N`: after N completion requests finished (whatever their outcome) the process exits with code 3
  (`fake server: dying after N requests` on stderr) — a server that crashes under load.
- `--fake-max-concurrency N`: at most N requests generate at once; the others wait in a queue inside the server
  (`vllm:num_requests_waiting`, `vllm:request_queue_time_seconds`). 0: no limit.
Completion requests are numbered from 1 in arrival order (Endpoint.check's 1-token completion is one of them).

Endpoints: GET /health, GET /v1/models, POST /v1/completions and /v1/chat/completions (streaming as vLLM streams:
`data: {json}\\n\\n` events, one chunk per token, the usage chunk with `"choices": []` when
`stream_options.include_usage`, then `data: [DONE]`; chat streams start with vLLM's role chunk), GET /metrics
(Prometheus text with vLLM's metric names and a `model_name` label). Output length is always `max_tokens` (as with
`ignore_eos`); prompt_tokens is len(prompt) for a list of token ids, else the number of whitespace-separated words.

A small asyncio HTTP/1.1 server (standard library only, keep-alive, chunked SSE), so many streams run concurrently.
`start_fake_server` / `fake_server` start it as a subprocess for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
           503: "Service Unavailable"}
LISTENING = re.compile(r"fake server: listening on (http://\S+)")


# ---- the server ------------------------------------------------------------------------------------------------


@dataclass
class Options:
    served: list[str]
    host: str
    port: int
    ttft_s: float
    itl_s: float
    startup_s: float
    fail_every: int
    die_after: int
    stream_error_every: int
    max_concurrency: int


@dataclass
class State:
    """Counters and gauges behind /metrics."""

    started: float = field(default_factory=time.monotonic)
    arrived: int = 0  # completion requests numbered so far
    finished: int = 0  # completion requests whose response ended (any outcome)
    running: int = 0
    waiting: int = 0
    success: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    ttft_sum: float = 0.0
    ttft_count: int = 0
    queue_sum: float = 0.0
    queue_count: int = 0


class HttpError(Exception):
    def __init__(self, status: int, message: str, kind: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.param = status, kind, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.status}}


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--served-model-name", nargs="+", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fake-ttft-ms", type=float, default=20.0)
    parser.add_argument("--fake-itl-ms", type=float, default=5.0)
    parser.add_argument("--fake-startup-s", type=float, default=0.0)
    parser.add_argument("--fake-fail-every", type=int, default=0)
    parser.add_argument("--fake-die-after", type=int, default=0)
    parser.add_argument("--fake-stream-error-every", type=int, default=0)
    parser.add_argument("--fake-max-concurrency", type=int, default=0)
    args, _ignored = parser.parse_known_args(argv)  # vLLM's other flags
    return Options(served=args.served_model_name or [args.model], host=args.host, port=args.port,
                   ttft_s=args.fake_ttft_ms / 1000.0, itl_s=args.fake_itl_ms / 1000.0, startup_s=args.fake_startup_s,
                   fail_every=args.fake_fail_every, die_after=args.fake_die_after,
                   stream_error_every=args.fake_stream_error_every, max_concurrency=args.fake_max_concurrency)


def _prompt_tokens(body: dict[str, Any], chat: bool) -> int:
    if chat:
        words = 0
        for message in body.get("messages") or []:
            content = message.get("content", "") if isinstance(message, dict) else ""
            if isinstance(content, list):  # content parts
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            words += len(str(content).split())
        return words
    prompt = body.get("prompt", "")
    if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
        return len(prompt)
    if isinstance(prompt, list):
        return sum(len(str(p).split()) for p in prompt)
    return len(str(prompt).split())


class FakeServer:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.state = State()
        self.slots = asyncio.Semaphore(options.max_concurrency) if options.max_concurrency > 0 else None
        self.stopped = asyncio.Event()

    @property
    def ready(self) -> bool:
        return time.monotonic() - self.state.started >= self.options.startup_s

    # ---- HTTP/1.1 ----------------------------------------------------------------------------------------------

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    return
                method, target, version = [*request_line.decode("latin-1").split(), "", "", ""][:3]
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                await self.handle(method, target.split("?")[0], body, writer, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def respond(writer: asyncio.StreamWriter, status: int, payload: str | dict[str, Any],
                      keep_alive: bool, content_type: str = "application/json") -> None:
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
        writer.write(head.encode() + data)
        await writer.drain()

    async def handle(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter,
                     keep_alive: bool) -> None:
        if path == "/health" and method == "GET":
            await self.respond(writer, 200 if self.ready else 503, "" if self.ready else "starting", keep_alive,
                               "text/plain")
        elif path == "/metrics" and method == "GET":
            await self.respond(writer, 200, self.metrics(), keep_alive, "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/v1/models" and method == "GET":
            if not self.ready:
                await self.respond(writer, 503, HttpError(503, "the server is starting", "ServiceUnavailable")
                                   .body(), keep_alive)
                return
            await self.respond(writer, 200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": int(time.time()), "owned_by": "fake-openai",
                 "root": name, "parent": None} for name in self.options.served]}, keep_alive)
        elif path in ("/v1/completions", "/v1/chat/completions"):
            if method != "POST":
                await self.respond(writer, 405, HttpError(405, "use POST", "MethodNotAllowed").body(), keep_alive)
                return
            await self.completion(body, path.endswith("chat/completions"), writer, keep_alive)
        else:
            await self.respond(writer, 404, {"detail": "Not Found"}, keep_alive)

    # ---- completions -------------------------------------------------------------------------------------------

    async def completion(self, raw: bytes, chat: bool, writer: asyncio.StreamWriter, keep_alive: bool) -> None:
        state, options = self.state, self.options
        state.arrived += 1
        number = state.arrived
        try:
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the body is not a JSON object")
            except ValueError as exc:
                raise HttpError(400, f"invalid JSON body: {exc}", "BadRequestError") from None
            if not self.ready:
                raise HttpError(503, "the server is starting", "ServiceUnavailable")
            model = body.get("model")
            if model is not None and model not in options.served:
                raise HttpError(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
            if options.fail_every and number % options.fail_every == 0:
                raise HttpError(500, f"fake failure of request {number} (--fake-fail-every {options.fail_every})",
                                "InternalServerError")
            try:
                max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
            except (TypeError, ValueError):
                raise HttpError(400, "max_tokens must be an integer", "BadRequestError", "max_tokens") from None
            if max_tokens < 1:
                raise HttpError(400, "max_tokens must be at least 1", "BadRequestError", "max_tokens")
            await self.generate(body, chat, number, max_tokens, writer, keep_alive)
        except HttpError as exc:
            await self.respond(writer, exc.status, exc.body(), keep_alive)
        finally:
            state.finished += 1
            if options.die_after and state.finished >= options.die_after:
                print(f"fake server: dying after {state.finished} requests", file=sys.stderr, flush=True)
                sys.stdout.flush()
                os._exit(3)

    async def generate(self, body: dict[str, Any], chat: bool, number: int, max_tokens: int,
                       writer: asyncio.StreamWriter, keep_alive: bool) -> None:
        state, options = self.state, self.options
        arrived = time.monotonic()
        state.waiting += 1
        try:
            if self.slots is not None:
                await self.slots.acquire()
        finally:
            state.waiting -= 1
        state.running += 1
        try:
            admitted = time.monotonic()
            state.queue_sum += admitted - arrived
            state.queue_count += 1
            prompt_tokens = _prompt_tokens(body, chat)
            model = body.get("model") or options.served[0]
            error_at = (max_tokens // 2 if options.stream_error_every and number % options.stream_error_every == 0
                        else None)
            if body.get("stream"):
                await self.stream(writer, chat, model, prompt_tokens, max_tokens, arrived, admitted, error_at,
                                  bool((body.get("stream_options") or {}).get("include_usage")))
                return
            await _sleep_until(admitted + options.ttft_s)
            state.ttft_sum += time.monotonic() - arrived
            state.ttft_count += 1
            await _sleep_until(admitted + options.ttft_s + (max_tokens - 1) * options.itl_s)
            if error_at is not None:
                raise HttpError(500, f"fake generation failure of request {number}", "InternalServerError")
            text = "".join(_token(i) for i in range(max_tokens))
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens,
                     "total_tokens": prompt_tokens + max_tokens}
            choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": "length", "stop_reason": None}
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            self.succeeded(prompt_tokens, max_tokens)
            await self.respond(writer, 200, {"id": _id(chat), "object": "chat.completion" if chat else
                                             "text_completion", "created": int(time.time()), "model": model,
                                             "choices": [choice], "usage": usage}, keep_alive)
        finally:
            state.running -= 1
            if self.slots is not None:
                self.slots.release()

    async def stream(self, writer: asyncio.StreamWriter, chat: bool, model: str, prompt_tokens: int,
                     max_tokens: int, arrived: float, admitted: float, error_at: int | None,
                     include_usage: bool) -> None:
        """One SSE response with Transfer-Encoding: chunked (as vLLM's uvicorn sends it)."""
        options = self.options
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
        await writer.drain()
        request_id, created = _id(chat), int(time.time())
        obj = "chat.completion.chunk" if chat else "text_completion"

        async def event(data: str) -> None:
            payload = f"data: {data}\n\n".encode()
            writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            await writer.drain()

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
            return json.dumps({"id": request_id, "object": obj, "created": created, "model": model,
                               "choices": choices, **extra})

        for i in range(max_tokens):
            await _sleep_until(admitted + options.ttft_s + i * options.itl_s)
            if i == error_at:
                await event(json.dumps({"error": {"message": "fake generation failure mid-stream "
                                                  "(--fake-stream-error-every)", "type": "InternalServerError",
                                                  "param": None, "code": 500}}))
                break
            finish = "length" if i == max_tokens - 1 else None
            if i == 0:
                self.state.ttft_sum += time.monotonic() - arrived  # vLLM's TTFT includes the queue
                self.state.ttft_count += 1
                if chat:  # vLLM's first chat chunk carries the role only
                    await event(chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "logprobs": None, "finish_reason": None}]))
            if chat:
                choice = {"index": 0, "delta": {"content": _token(i)}, "logprobs": None, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": _token(i), "logprobs": None, "finish_reason": finish,
                          "stop_reason": None}
            await event(chunk([choice]))
        else:
            self.succeeded(prompt_tokens, max_tokens)
            if include_usage:
                await event(chunk([], usage={"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens,
                                             "total_tokens": prompt_tokens + max_tokens}))
        await event("[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    def succeeded(self, prompt_tokens: int, output_tokens: int) -> None:
        self.state.success += 1
        self.state.prompt_tokens += prompt_tokens
        self.state.generation_tokens += output_tokens

    # ---- /metrics ----------------------------------------------------------------------------------------------

    def metrics(self) -> str:
        s, label = self.state, f'model_name="{self.options.served[0]}"'
        capacity = self.options.max_concurrency or 64
        lines = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])
            lines.extend(f"{name}{suffix} {value}" for suffix, value in samples)

        metric("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
               [(f"{{{label}}}", float(s.running))])
        metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
               [(f"{{{label}}}", float(s.waiting))])
        metric("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
               [(f"{{{label}}}", min(1.0, s.running / capacity))])
        metric("vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.",
               [(f"{{{label}}}", 0.0)])
        metric("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
               [(f"{{{label}}}", float(s.prompt_tokens))])
        metric("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
               [(f"{{{label}}}", float(s.generation_tokens))])
        metric("vllm:request_success_total", "counter", "Count of successfully processed requests.",
               [(f'{{finished_reason="{reason}",{label}}}', float(s.success if reason == "length" else 0))
                for reason in ("stop", "length", "abort")])
        for name, help_text, total, count in (
                ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", s.ttft_sum,
                 s.ttft_count),
                ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                 s.queue_sum, s.queue_count)):
            metric(name, "histogram", help_text, [(f'_bucket{{le="+Inf",{label}}}', float(count)),
                                                  (f"_sum{{{label}}}", total), (f"_count{{{label}}}", float(count))])
        return "\n".join(lines) + "\n"


def _token(i: int) -> str:
    return f" t{i}"


def _id(chat: bool) -> str:
    return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def serve(options: Options) -> None:
    fake = FakeServer(options)
    server = await asyncio.start_server(fake.connection, options.host, options.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, fake.stopped.set)
    print(f"fake server: listening on http://{options.host}:{port} (serving {', '.join(options.served)})",
          flush=True)
    async with server:
        await fake.stopped.wait()
    print("fake server: stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


# ---- for tests: start it as a subprocess -----------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
_started: list[subprocess.Popen] = []


def _flags(options: dict[str, Any]) -> list[str]:
    """`ttft_ms=20` -> `--fake-ttft-ms 20`; `model`, `served_model_name`, `host` and `extra` (a list) as given."""
    flags = ["--model", str(options.pop("model", "fake-model"))]
    if (served := options.pop("served_model_name", None)) is not None:
        flags += ["--served-model-name", *([served] if isinstance(served, str) else served)]
    flags += ["--host", str(options.pop("host", "127.0.0.1")), "--port", "0"]
    flags += [str(f) for f in options.pop("extra", [])]
    for name, value in options.items():
        flags += [f"--fake-{name.replace('_', '-')}", str(value)]
    return flags


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def start_fake_server(tmp_path: Path, timeout_s: float = 15.0, **options: Any) -> tuple[str, subprocess.Popen]:
    """Start the stand-in on a free port (it binds port 0 and says which); returns (base URL, process) once it listens.

    `options`: `ttft_ms=…, itl_ms=…, startup_s=…, fail_every=…, die_after=…, stream_error_every=…,
    max_concurrency=…` (the `--fake-*` flags), `model`, `served_model_name`, `extra` (more argv). Its stdout and
    stderr go to `tmp_path/fake_openai.{out,err}`. The process is killed at interpreter exit at the latest; use
    `fake_server` (a context manager) to stop it sooner.
    """
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    out, err = tmp_path / "fake_openai.out", tmp_path / "fake_openai.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "tests.standins.fake_openai", *_flags(dict(options))],
                                   cwd=REPO, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    _started.append(process)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if match := LISTENING.search(out.read_text(errors="replace")):
            return match.group(1), process
        if process.poll() is not None:
            break
        time.sleep(0.02)
    _stop(process)
    raise RuntimeError(f"the fake OpenAI server did not start (exit {process.returncode}): "
                       f"{err.read_text(errors='replace')[-2000:]}")


@contextlib.contextmanager
def fake_server(tmp_path: Path, **options: Any) -> Iterator[tuple[str, subprocess.Popen]]:
    """`with fake_server(tmp_path, ttft_ms=50) as (url, process):` — started as `start_fake_server`, killed at exit."""
    url, process = start_fake_server(tmp_path, **options)
    try:
        yield url, process
    finally:
        _stop(process)


@atexit.register
def _stop_all() -> None:
    for process in _started:
        _stop(process)


if __name__ == "__main__":
    sys.exit(main())
