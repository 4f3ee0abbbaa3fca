"""The local executor with small real subprocesses: success, crash, partial results, timeout, Ctrl-C, killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bench.config import RunGroup, Task
from bench.executors.local import LocalExecutor
from bench.results.rundir import RunDirectory, load_results

# A stand-in workload process: reads the group config, then behaves as MODE says. It writes results in the real
# format, so the executor's reading path is the product's.
WORKLOAD = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    mode, config, output = sys.argv[1], sys.argv[2], sys.argv[3]
    group = json.load(open(config))
    def result(task):
        return {"benchmark": task["benchmark"], "scenario": task["scenario"], "profile": group["profile"],
                "metrics": {"x": 1.0}, "thresholds": {}, "passed": True, "config": {}, "environment": {},
                "started_at": "", "duration_s": 0.0, "error": None, "notes": []}
    print("workload starting", flush=True)
    if mode in ("hang", "interrupt"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(os.environ["PIDFILE"], "w").write(f"{os.getpid()} {child.pid}")
        time.sleep(600)
    if mode == "partial":
        json.dump([result(group["tasks"][0])], open(output, "w"))
        print("error: llm_throughput/single: RuntimeError: engine died", file=sys.stderr, flush=True)
        sys.exit(1)
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    json.dump([result(t) for t in group["tasks"]], open(output, "w"))
    """
)


class StandInExecutor(LocalExecutor):
    def __init__(self, mode: str) -> None:
        super().__init__(kill_grace_s=2.0)
        self.mode = mode

    def command(self, group: RunGroup, config: Path, output: Path) -> list[str]:
        return [sys.executable, "-c", WORKLOAD, self.mode, str(config), str(output)]


def make_group(timeout_s: int = 60) -> RunGroup:
    tasks = [Task("llm_throughput", "offline", {}), Task("llm_throughput", "single", {})]
    return RunGroup(name="llm_throughput", profile="tiny", model="m", engine={}, tasks=tasks, timeout_s=timeout_s)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_success_streams_output_to_log_and_echo(tmp_path: Path) -> None:
    run_dir = RunDirectory.create(tmp_path)
    lines: list[str] = []
    results = StandInExecutor("ok").run(make_group(), run_dir, lines.append)
    assert [r.passed for r in results] == [True, True]
    assert "workload starting" in lines
    assert "workload starting" in (run_dir.logs / "llm_throughput.log").read_text()


def test_crash_after_first_task_keeps_it_and_fails_the_rest(tmp_path: Path) -> None:
    results = StandInExecutor("partial").run(make_group(), RunDirectory.create(tmp_path), lambda _: None)
    assert results[0].passed and results[0].error is None
    assert results[1].error == (
        "workload process exited with code 1: error: llm_throughput/single: RuntimeError: engine died"
    )


def test_killed_process_is_reported_with_signal(tmp_path: Path) -> None:
    results = StandInExecutor("sigkill").run(make_group(), RunDirectory.create(tmp_path), lambda _: None)
    assert {r.error for r in results} == {"workload process killed by SIGKILL (out of memory?)"}


def test_timeout_kills_the_whole_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("PIDFILE", str(pidfile))
    start = time.monotonic()
    results = StandInExecutor("hang").run(make_group(timeout_s=3), RunDirectory.create(tmp_path), lambda _: None)
    assert time.monotonic() - start < 30
    assert {r.error for r in results} == {"timed out after 3 s (raise it with --timeout); process group killed"}
    workload, grandchild = map(int, pidfile.read_text().split())
    deadline = time.monotonic() + 5
    while (alive(workload) or alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(workload) and not alive(grandchild)


CTRL_C_DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    from tests.signals import restore_ctrl_c
    restore_ctrl_c()  # the test sends SIGINT: it must raise here even if this process inherited SIGINT ignored
    from test_local_executor import StandInExecutor, make_group
    from bench.results.rundir import RunDirectory
    run_dir = RunDirectory.create(Path(sys.argv[3]), run_id="run")
    try:
        StandInExecutor("interrupt").run(make_group(), run_dir, lambda line: None)
    except KeyboardInterrupt:
        print("driver saw KeyboardInterrupt", flush=True)
        sys.exit(130)
    """
)


def test_ctrl_c_kills_the_group_and_records_interrupted(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    repo = Path(__file__).resolve().parents[2]
    driver = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_DRIVER, str(repo), str(Path(__file__).parent), str(tmp_path)],
        env={**os.environ, "PIDFILE": str(pidfile)}, stdout=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    workload, grandchild = map(int, pidfile.read_text().split())
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=30)
    assert driver.returncode == 130 and "driver saw KeyboardInterrupt" in out
    time.sleep(0.5)
    assert not alive(workload) and not alive(grandchild)
    results = load_results(tmp_path / "run")
    assert {r.error for r in results} == {"interrupted (Ctrl-C); process group killed"}
    assert json.loads((tmp_path / "run" / "results.json").read_text())


def test_cancel_event_acts_as_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller running groups in threads passes a Ctrl-C on by setting `cancel`: same cleanup, same results."""
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("PIDFILE", str(pidfile))
    cancel = threading.Event()

    def cancel_once_running() -> None:
        deadline = time.monotonic() + 30
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        cancel.set()

    threading.Thread(target=cancel_once_running, daemon=True).start()
    run_dir = RunDirectory.create(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        StandInExecutor("hang").run(make_group(), run_dir, lambda _: None, cancel=cancel)
    workload, grandchild = map(int, pidfile.read_text().split())
    deadline = time.monotonic() + 5
    while (alive(workload) or alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(workload) and not alive(grandchild)
    assert {r.error for r in load_results(run_dir.path)} == {"interrupted (Ctrl-C); process group killed"}
