"""The local executor's server lifecycle for a serving group, with the stand-in OpenAI server (tests/standins) in
vLLM's place and the real entry point (`python -m bench.run serving`) as the load client: ready → results; a server
that exits before it is ready, one that never gets ready, one that dies mid-run, Ctrl-C while it starts — each a
failed result quoting the server's log, and never a server process left behind."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from bench.config import RunGroup, Task
from bench.engines.vllm_server import LocalServer, free_port
from bench.executors.local import LocalExecutor
from bench.models.tiny import TINY_MODEL_ID
from bench.processes import group_alive
from bench.results.rundir import RunDirectory, load_results

REPO = Path(__file__).resolve().parents[2]
SMALL = {"num_requests": 16, "rates": "20", "concurrency": "2", "input_len": 16, "output_len": 8,
         "warmup_requests": 2}


class FakeServerExecutor(LocalExecutor):
    """The local executor with the stand-in server (its `--fake-*` flags) where it would start vLLM."""

    def __init__(self, *fake_flags: str) -> None:
        super().__init__(kill_grace_s=2.0)
        self.fake_flags = list(fake_flags)
        self.servers: list[LocalServer] = []

    def _server(self, group: RunGroup, run_dir: RunDirectory) -> LocalServer:
        port = free_port()
        command = [sys.executable, "-m", "tests.standins.fake_openai", "--model", "m", "--served-model-name",
                   group.served_model or "m", "--host", "127.0.0.1", "--port", str(port), *self.fake_flags]
        env = {**self.child_env(), "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        server = LocalServer(command, group.served_model or "m", run_dir.logs / f"{group.name}-server.log", env,
                             port=port)
        self.servers.append(server)
        return server


def serving_group(timeout_s: int = 120, **params: object) -> RunGroup:
    values = {**SMALL, **params}
    tasks = [Task("serving", "poisson", dict(values)), Task("serving", "concurrency", dict(values))]
    return RunGroup(name="serving", profile="tiny", model=TINY_MODEL_ID, engine={}, tasks=tasks, timeout_s=timeout_s,
                    served_model="tiny-llama")


def run_dir(tmp_path: Path) -> RunDirectory:
    return RunDirectory.create(tmp_path / "results", {"profile": "tiny"})


def assert_server_gone(executor: FakeServerExecutor) -> None:
    for server in executor.servers:
        assert server.proc is not None and server.proc.poll() is not None
        assert not group_alive(server.proc.pid)


def test_a_ready_server_serves_every_scenario_and_is_stopped(tmp_path: Path) -> None:
    rd = run_dir(tmp_path)
    executor = FakeServerExecutor("--fake-ttft-ms", "10", "--fake-itl-ms", "2")
    lines: list[str] = []
    results = executor.run(serving_group(), rd, lines.append)
    assert [r.error for r in results] == [None, None], results
    poisson, concurrency = results
    assert poisson.metrics["r20_completed"] == 16 and poisson.metrics["errors_total"] == 0
    assert poisson.metrics["ttft_median_ms"] >= 10 and concurrency.metrics["c2_requests"] == 16
    assert poisson.metrics["r20_server_requests"] == 16  # the stand-in's /metrics, counted across the point
    assert poisson.config["endpoint"].startswith("http://127.0.0.1:") and poisson.config["served_model"] == \
        "tiny-llama"
    records = rd.path / "raw" / "artifacts" / "serving" / "poisson" / "r20.jsonl"
    assert len(records.read_text().splitlines()) == 16
    assert any("server ready at http://127.0.0.1:" in line for line in lines)
    assert (rd.logs / "serving-server.log").exists()
    assert len(executor.servers) == 1  # one server for both scenarios
    assert_server_gone(executor)


def test_a_server_that_exits_before_it_is_ready_fails_with_its_last_log_lines(tmp_path: Path) -> None:
    rd = run_dir(tmp_path)
    executor = FakeServerExecutor("--fake-ttft-ms", "not-a-number")  # argparse rejects it: exit 2
    results = executor.run(serving_group(), rd, lambda line: None)
    for result in results:
        assert result.error is not None
        assert "exited with code 2 before it was ready" in result.error
        assert "serving-server.log" in result.error and "--fake-ttft-ms" in result.error  # the log's last lines
    assert_server_gone(executor)


def test_a_server_that_never_gets_ready_is_killed_at_the_timeout(tmp_path: Path) -> None:
    rd = run_dir(tmp_path)
    executor = FakeServerExecutor("--fake-startup-s", "60")
    results = executor.run(serving_group(server_timeout_s=3), rd, lambda line: None)
    for result in results:
        assert result.error and "not ready after 3 s (waiting for /health" in result.error
        assert "--param serving.server_timeout_s=S" in result.error
    assert_server_gone(executor)


def test_a_server_that_dies_mid_run_fails_the_results_with_its_log_and_the_suite_goes_on(tmp_path: Path) -> None:
    rd = run_dir(tmp_path)
    executor = FakeServerExecutor("--fake-die-after", "12")
    results = executor.run(serving_group(num_requests=40, rates="40"), rd, lambda line: None)
    for result in results:
        assert result.error is not None
        assert "exited with code 3 during the run" in result.error
        assert "dying after 12 requests" in result.error  # its last log lines
    assert "circuit breaker" in results[0].error and "no longer answers /health" in results[0].error
    assert_server_gone(executor)


def test_ctrl_c_while_the_server_starts_stops_it_and_records_every_task(tmp_path: Path) -> None:
    rd = run_dir(tmp_path)
    executor = FakeServerExecutor("--fake-startup-s", "60")
    cancel = threading.Event()
    threading.Timer(1.5, cancel.set).start()
    with pytest.raises(KeyboardInterrupt):
        executor.run(serving_group(), rd, lambda line: None, cancel=cancel)
    recorded = load_results(rd.path)
    assert [r.key for r in recorded] == ["serving/poisson", "serving/concurrency"]
    assert all("interrupted (Ctrl-C) while the vLLM server started" in (r.error or "") for r in recorded)
    assert_server_gone(executor)
