"""A kubeconfig that cannot be used or an API server that does not answer: one error before any benchmark runs, from
the real pytest and from `bench run` — not one failed test per benchmark. `--collect-only` and `--dry-run` need no
cluster.

The servers here are on the loopback interface: a port that was just closed (connection refused), a listening socket
whose accept queue is full (the connection is never accepted: a connect timeout), and a stand-in that answers
`GET /version` as an API server does. Path options are written `--opt=VALUE` here, so that each test is about the
check alone (the other spelling: test_suite_paths.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubeconfigs import serve_version, write_kubeconfig

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "pytest"


def pytest_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pytest"]
    return subprocess.run([*command, "-p", "no:cacheprovider", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env=os.environ.copy())


def bench_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that never completes a connection: a listener with a backlog of 0 whose queue one connection fills."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))  # EINPROGRESS for the one that does not fit
        fillers.append(filler)
    time.sleep(0.2)
    yield port
    for s in [*fillers, server]:
        s.close()


@pytest.fixture
def version_server() -> Iterator[str]:
    """A stand-in API server that answers GET /version (plain HTTP)."""
    with serve_version() as port:
        yield f"http://127.0.0.1:{port}"


def assert_one_usage_error(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    """pytest: exit 4, one `ERROR:` line, no test run or collected."""
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), proc.stderr
    for text in expected:
        assert text in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "collected" not in proc.stdout and "failed" not in proc.stdout
    return lines[0]


def assert_one_bench_error(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), proc.stderr
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_missing_kubeconfig_is_one_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "admin.conf"
    results = tmp_path / "results"
    proc = pytest_cli("-m", "smoke", "--executor", "kubernetes", f"--kubeconfig={missing}",
                      f"--results-dir={results}")
    line = assert_one_usage_error(proc, f"kubeconfig {missing} (--kubeconfig) does not exist", "pass --kubeconfig")
    print("ERROR missing kubeconfig:", line)
    assert not results.exists()  # nothing was started: no run directory
    out = bench_cli("run", "llm_throughput", "--executor", "kubernetes", f"--kubeconfig={missing}",
                    f"--results-dir={results}")
    assert_one_bench_error(out, f"kubeconfig {missing} (--kubeconfig) does not exist", "pass --kubeconfig")
    assert not results.exists()


def test_kubeconfig_that_is_a_directory_or_not_a_kubeconfig(tmp_path: Path) -> None:
    proc = pytest_cli("-m", "smoke", "--executor", "kubernetes", f"--kubeconfig={tmp_path}")
    assert_one_usage_error(proc, f"kubeconfig {tmp_path} (--kubeconfig) is a directory")
    garbage = tmp_path / "admin.conf"
    garbage.write_text("this is: not [a kubeconfig\n")
    out = bench_cli("run", "llm_throughput", "--executor", "kubernetes", f"--kubeconfig={garbage}")
    assert_one_bench_error(out, f"kubeconfig {garbage}: cannot load the Kubernetes configuration", "--kubeconfig")


def test_refused_api_server_is_one_usage_error_naming_the_url(tmp_path: Path, closed_port: int) -> None:
    server = f"https://127.0.0.1:{closed_port}"
    kubeconfig = write_kubeconfig(tmp_path / "admin.conf", server)
    proc = pytest_cli("-m", "smoke", "--executor", "kubernetes", f"--kubeconfig={kubeconfig}",
                      f"--results-dir={tmp_path / 'results'}")
    line = assert_one_usage_error(proc, f"cannot reach the Kubernetes API server {server}", "connection refused",
                                  f"kubeconfig {kubeconfig}")
    print("ERROR refused:", line)
    out = bench_cli("run", "llm_throughput", "--executor", "kubernetes", f"--kubeconfig={kubeconfig}",
                    f"--results-dir={tmp_path / 'results'}")
    assert_one_bench_error(out, f"cannot reach the Kubernetes API server {server}", "connection refused")


def test_api_server_that_never_accepts_fails_after_the_connect_timeout(tmp_path: Path, silent_port: int) -> None:
    """Seconds, not the client's retries of the kernel's two-minute connect: a hang here would hit the subprocess
    timeout and fail the test."""
    server = f"https://127.0.0.1:{silent_port}"
    kubeconfig = write_kubeconfig(tmp_path / "admin.conf", server)
    proc = pytest_cli("-m", "smoke", "--executor", "kubernetes", f"--kubeconfig={kubeconfig}")
    line = assert_one_usage_error(proc, f"cannot reach the Kubernetes API server {server}", "no connection within 5 s")
    print("ERROR silent:", line)


def test_reachable_api_server_lets_the_suite_go_on(tmp_path: Path, version_server: str) -> None:
    """The check passes on a server that answers; -k selecting nothing stops the run right after collection."""
    kubeconfig = write_kubeconfig(tmp_path / "admin.conf", version_server)
    proc = pytest_cli("-m", "smoke", "--executor", "kubernetes", f"--kubeconfig={kubeconfig}", "-k", "no_such_test",
                      f"--results-dir={tmp_path / 'results'}")
    assert proc.returncode == 5, proc.stdout[-2000:] + proc.stderr[-2000:]  # no test selected, no usage error
    assert "ERROR" not in proc.stderr and "11 deselected" in proc.stdout


def test_collect_only_and_dry_run_need_no_cluster(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    proc = pytest_cli("-m", "smoke", "--collect-only", "--executor", "kubernetes", f"--kubeconfig={missing}",
                      f"--results-dir={tmp_path / 'results'}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "10/11 tests collected (1 deselected)" in proc.stdout
    out = bench_cli("run", "llm_throughput", "--executor", "kubernetes", "--dry-run", f"--kubeconfig={missing}")
    assert out.returncode == 0, out.stderr
    assert "nothing submitted" in out.stdout.splitlines()[0] and "kind: Job" in out.stdout
