"""End to end: `bench run serving` on the embedded default — a real vLLM CPU server started by the suite, our load
client against it, the run directory holding per-request records, per-point metrics and the server's own figures —
and bad input refused in one line with exit 2 before anything starts (unreachable endpoint, a model the endpoint
does not serve, rates, concurrency and SLOs that are not positive numbers)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.engines.vllm_server import free_port
from tests.standins.fake_openai import fake_server

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), proc.stderr
    return lines[0]


def test_an_unreachable_endpoint_is_refused_within_seconds_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    line = one_line_error(bench("run", "serving", "--endpoint", url, "--results-dir", str(tmp_path)))
    assert time.monotonic() - start < 30
    assert url in line and "connection refused" in line
    assert not any(tmp_path.iterdir())  # no run directory


def test_a_model_the_endpoint_does_not_serve_is_refused_naming_the_ones_it_does(tmp_path: Path) -> None:
    with fake_server(tmp_path, served_model_name="tiny-llama") as (url, _):
        line = one_line_error(bench("run", "serving", "--endpoint", url, "--served-model", "llama-70b",
                                    "--results-dir", str(tmp_path / "r")))
    assert "'llama-70b'" in line and "tiny-llama" in line


@pytest.mark.parametrize(("param", "expected"), [
    ("serving.rates=0", "a request rate must be > 0"),
    ("serving.rates=-2,4", "a request rate must be > 0"),
    ("serving.concurrency=0", "concurrency levels must be ≥ 1"),
    ("serving.slo_ttft_ms=-5", "slo_ttft_ms must be a positive number of ms"),
    ("serving.slo_tpot_ms=fast", "slo_tpot_ms"),
    ("serving.burstiness=0", "burstiness must be > 0"),
])
def test_bad_load_parameters_are_refused_before_anything_starts(tmp_path: Path, param: str, expected: str) -> None:
    line = one_line_error(bench("run", "serving", "--param", param, "--results-dir", str(tmp_path)))
    assert expected in line
    assert not any(tmp_path.iterdir())


def test_served_model_without_an_endpoint_is_refused(tmp_path: Path) -> None:
    line = one_line_error(bench("run", "serving", "--served-model", "x", "--results-dir", str(tmp_path)))
    assert "--endpoint" in line


@pytest.mark.e2e
def test_serving_on_the_embedded_default_with_a_real_vllm_server(tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="the CPU or CUDA build of vLLM is needed (make test installs it)")
    proc = bench("run", "serving", "--scenario", "poisson", "--results-dir", str(tmp_path),
                 "--param", "serving.rates=2,4", "--param", "serving.num_requests=12",
                 "--param", "serving.output_len=8")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "vLLM server ready at http://127.0.0.1:" in proc.stdout
    assert "server:   vLLM's OpenAI server (python -m vllm.entrypoints.openai.api_server)" in proc.stdout  # header
    run = (tmp_path / "latest").resolve()
    (result,) = json.loads((run / "results.json").read_text())
    assert result["passed"] and result["error"] is None
    m = result["metrics"]
    for point in ("r2", "r4"):
        assert m[f"{point}_completed"] == 12 and m[f"{point}_errors"] == 0
        assert 0 < m[f"{point}_ttft_median_ms"] <= m[f"{point}_ttft_p99_ms"] <= m[f"{point}_e2e_p99_ms"]
        assert m[f"{point}_server_requests"] == 12  # vLLM's own counter across the point
        assert m[f"{point}_server_generation_tokens"] == 12 * 8
        assert m[f"{point}_mean_output_tokens"] == 8  # ignore_eos, counted from the server's usage
        records = (run / "raw" / "artifacts" / "serving" / "poisson" / f"{point}.jsonl").read_text().splitlines()
        assert len(records) == 12
        first = json.loads(records[0])
        assert first["ok"] and first["output_tokens"] == 8 and len(first["chunks"]) >= 1
        assert first["sent"] >= first["scheduled"] and first["first_token"] <= first["end"]
    assert m["ttft_p99_ms"] == m["r4_ttft_p99_ms"]  # the headline is the highest rate
    assert m["max_rate_within_slo"] in (0.0, 2.0, 4.0)
    points = result["config"]["points"]
    assert [p["label"] for p in points] == ["r2", "r4"] and all("server" in p for p in points)
    assert "Application startup complete" in (run / "logs" / "serving-server.log").read_text()
    port = result["config"]["endpoint"].rsplit(":", 1)[1]
    leftover = subprocess.run(["pgrep", "-f", f"vllm.entrypoints.openai.api_server .*--port {port}( |$)"],
                              capture_output=True, text=True)
    assert leftover.stdout == ""  # the server and its engine processes are gone
