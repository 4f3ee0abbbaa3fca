"""vLLM's OpenAI-compatible server as a local child process: its command line, start, readiness, stop.

    python -m vllm.entrypoints.openai.api_server --model M --served-model-name NAME --host 127.0.0.1 --port P ...

(the module, not the `vllm serve` console script, which does not start under the CPU build: ENVIRONMENT.md). The
engine arguments are the profile's `vllm.LLM` keywords turned into the server's flags (`server_flags`). The server
runs in its own process group with its output in a log file; `start` waits for `/health`, then for `/v1/models` to
list the served name, then for a 1-token completion (bench/engines/openai_http.py), printing progress; a server that
exits, does not get ready in time, or is interrupted is killed with its whole group and the error quotes the last
lines of its log. The Kubernetes executor builds its Deployment from the same `server_command`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.engines.openai_http import Endpoint, EndpointError
from bench.errors import BenchError
from bench.processes import kill_group

SERVER_MODULE = "vllm.entrypoints.openai.api_server"
DEFAULT_PORT = 8000
LOG_TAIL = 15
KILL_GRACE_S = 15.0


class ServerError(BenchError):
    """The server did not start, or stopped; the message ends with the last lines of its log."""


def server_flags(engine: Mapping[str, Any]) -> list[str]:
    """`vllm.LLM` keyword arguments as `vllm serve` flags: `max_model_len=4096` → `--max-model-len 4096`;
    booleans → `--flag` / `--no-flag` (vLLM's BooleanOptionalAction; a False `disable_*` flag is just left out);
    dicts and lists → JSON."""
    flags: list[str] = []
    for key, value in engine.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            if value:
                flags.append(flag)
            elif not key.startswith("disable_"):
                flags.append("--no-" + flag[2:])
        elif isinstance(value, dict | list):
            flags += [flag, json.dumps(value, separators=(",", ":"))]
        elif value is not None:
            flags += [flag, str(value)]
    return flags


def server_command(python: str, model: str, served_name: str, engine: Mapping[str, Any], host: str = "127.0.0.1",
                   port: int = DEFAULT_PORT) -> list[str]:
    return [python, "-m", SERVER_MODULE, "--model", model, "--served-model-name", served_name,
            "--host", host, "--port", str(port), *server_flags(engine)]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip() for line in deque(handle, maxlen=lines) if line.strip()]
    except OSError:
        return []


class LocalServer:
    """One vLLM server process; `start()` returns once it serves, `stop()` kills its whole group."""

    def __init__(self, command: list[str], served_name: str, log_path: Path, env: Mapping[str, str],
                 host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.command = command
        self.endpoint = Endpoint(f"http://{host}:{port}", served_name)
        self.log_path = log_path
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None

    @property
    def url(self) -> str:
        return self.endpoint.base_url

    def start(self, timeout_s: float, echo: Callable[[str], None] = print,
              cancel: threading.Event | None = None, progress_every_s: float = 15.0) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env, start_new_session=True)
        begin = time.monotonic()
        next_note = begin + progress_every_s
        stage = "/health"
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise KeyboardInterrupt
                code = self.proc.poll()
                if code is not None:
                    raise ServerError(self._with_tail(f"the vLLM server exited with code {code} before it was "
                                                      f"ready"))
                elapsed = time.monotonic() - begin
                if elapsed > timeout_s:
                    raise ServerError(self._with_tail(f"the vLLM server was not ready after {timeout_s:.0f} s "
                                                      f"(waiting for {stage}; raise it with --param "
                                                      f"serving.server_timeout_s=S)"))
                if stage == "/health" and self.endpoint.health():
                    stage = "/v1/models"
                if stage == "/v1/models":
                    try:
                        self.endpoint.check()
                        self.ready_s = elapsed
                        return self.url
                    except EndpointError:
                        pass  # models not listed yet, or the first completion not served yet: keep waiting
                if time.monotonic() >= next_note:
                    tail = log_tail(self.log_path, 1)
                    echo(f"[server] waiting for {stage} ({elapsed:.0f} s){': ' + tail[-1][:160] if tail else ''}")
                    next_note += progress_every_s
                time.sleep(0.5)
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_reason(self) -> str | None:
        """Why the server is gone (None while it runs)."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return self._with_tail(f"the vLLM server exited with code {self.proc.returncode} during the run")

    def _with_tail(self, text: str) -> str:
        tail = log_tail(self.log_path)
        return text + (f"; last lines of {self.log_path}: " + " | ".join(t[:200] for t in tail) if tail else "")

    def stop(self) -> None:
        """SIGTERM the server's process group (API server, engine core, workers), SIGKILL what is left after a
        grace period."""
        if self.proc is not None:
            kill_group(self.proc, KILL_GRACE_S)
