"""Run the entry point as a local subprocess: live output to the terminal and the log, timeout, clean kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from bench.config import RunGroup
from bench.executors.base import Echo, Executor, complete_results
from bench.models import require_loadable
from bench.results.rundir import RunDirectory
from bench.results.schema import Result

KILL_GRACE_S = 10.0
RESULT_LINE = "BENCH_RESULT "  # bench.run prints each finished result on such a line


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, python: str | None = None, kill_grace_s: float = KILL_GRACE_S) -> None:
        self.python = python or sys.executable
        self.kill_grace_s = kill_grace_s

    def preflight(self, plan: list[RunGroup]) -> list[str]:
        """The workload runs here, so its LLM must load here: a Hub id this machine has no copy of and cannot
        download stops the run now, with the fix, rather than after the process has started."""
        for group in plan:
            if group.uses_llm:
                require_loadable(group.model)
        return []

    def command(self, group: RunGroup, config: Path, output: Path) -> list[str]:
        return [self.python, "-m", "bench.run", *group.benchmarks, "--config", str(config), "--output", str(output)]

    def run(self, group: RunGroup, run_dir: RunDirectory, echo: Echo = print,
            cancel: threading.Event | None = None) -> list[Result]:
        config = run_dir.path / "configs" / f"{group.name}.json"
        output = run_dir.path / "raw" / f"{group.name}.json"
        log_path = run_dir.logs / f"{group.name}.log"
        group.write(config)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        tail: deque[str] = deque(maxlen=20)
        reason: str | None = None
        echo(f"[{self.name}] {' '.join(self.command(group, config, output))}  (log: {log_path})")
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                self.command(group, config, output), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, start_new_session=True, text=True, errors="replace", bufsize=1,
            )
            pump = threading.Thread(target=self._pump, args=(proc, log, echo, tail), daemon=True)
            pump.start()
            try:
                _wait(proc, group.timeout_s, cancel)
            except subprocess.TimeoutExpired:
                self._kill_group(proc)
                reason = f"timed out after {group.timeout_s} s (raise it with --timeout); process group killed"
            except KeyboardInterrupt:
                self._kill_group(proc)
                pump.join(timeout=5)
                results = complete_results(group, output, "interrupted (Ctrl-C); process group killed")
                run_dir.add_results(results)
                raise
            pump.join(timeout=5)
        if reason is None and proc.returncode != 0:
            reason = self._crash_reason(proc.returncode, tail)
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

    def _kill_group(self, proc: subprocess.Popen[str]) -> None:
        """SIGTERM the whole process group (vLLM's engine and workers too), SIGKILL what is left after a grace."""
        for sig, wait in ((signal.SIGTERM, self.kill_grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if proc.poll() is not None and not _group_alive(proc.pid):
                    return
                time.sleep(0.1)

    @staticmethod
    def _crash_reason(returncode: int, tail: deque[str]) -> str:
        if returncode < 0:
            name = signal.Signals(-returncode).name
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return f"workload process killed by {name}{hint}"
        errors = [line for line in tail if line.startswith("error:")]
        last = errors[-1] if errors else (tail[-1] if tail else "no output")
        return f"workload process exited with code {returncode}: {last}"


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


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
