"""End to end: `pytest -m smoke` on the embedded default with the real vLLM engine, checked against the run
directory contract (results.json, summary.md, logs/, junit.xml with metric properties, results/latest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_pytest(*args: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)


@pytest.mark.e2e
def test_smoke_suite_on_the_embedded_default(tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="the CPU or CUDA build of vLLM is needed (make test installs it)")
    proc = run_pytest("-m", "smoke", "--profile", "tiny", f"--results-dir={tmp_path}", "-k", "llm_throughput",
                      "--engine-arg", "max_num_seqs=32", "--param", "llm_throughput.passes=2",
                      "--param", "latency_requests=8")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "engine args: max_num_seqs=32 (--engine-arg, over the profile's)" in proc.stdout
    header = proc.stdout[: proc.stdout.index("collected")]
    for chosen in ("profile:  tiny", "executor: local", "engine:   vLLM", "device:   cpu", "not model quality"):
        assert chosen in header  # printed before anything runs

    run = (tmp_path / "latest").resolve()
    results = json.loads((run / "results.json").read_text())
    assert [(r["benchmark"], r["scenario"]) for r in results] == [
        ("llm_throughput", "offline"), ("llm_throughput", "single")]
    offline, single = results
    for result in results:
        assert result["passed"] and result["error"] is None
        assert result["environment"]["device"] in ("cpu", "cuda") and result["environment"]["versions"]["torch"]
        assert all(v > 0 for k, v in result["metrics"].items() if k != "output_len_mismatches")
        assert result["metrics"]["output_len_mismatches"] == 0  # ignore_eos honoured
    for key in ("output_tokens_per_s", "total_tokens_per_s", "requests_per_s"):
        assert offline["metrics"][key] > 0
    for key in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "output_tokens_per_s"):
        assert single["metrics"][key] > 0
    assert single["metrics"]["latency_p50_ms"] <= single["metrics"]["latency_p99_ms"]
    config = offline["config"]
    assert {"model", "input_len", "output_len", "num_prompts", "engine"} <= set(config)
    assert config["engine"]["model"] == config["model"]
    assert config["engine"]["max_num_seqs"] == 32 and config["passes"] == 2  # --engine-arg, --param
    assert offline["metrics"]["passes"] == 2 and offline["metrics"]["output_tokens_per_s_min"] <= \
        offline["metrics"]["output_tokens_per_s"] <= offline["metrics"]["output_tokens_per_s_max"]
    assert single["config"]["latency_requests"] == 8
    assert offline["metrics"]["num_output_tokens"] == config["num_prompts"] * config["output_len"]
    # one model load serves both scenarios
    loads = {(r["config"]["engine_load"]["instance_id"], r["config"]["engine_load"]["loads_in_process"])
             for r in results}
    assert len(loads) == 1 and next(iter(loads))[1] == 1
    assert proc.stdout.count("[bench] model loaded in") == 1

    summary = (run / "summary.md").read_text()
    assert "**2/2 passed**" in summary and "not model quality" in summary
    log = (run / "logs" / "llm_throughput.log").read_text()
    assert "llm_throughput/offline: PASS" in log
    junit = ET.parse(run / "junit.xml").getroot()
    cases = junit.iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    assert float(props["test_llm_throughput[offline]"]["output_tokens_per_s"]) > 0
    assert float(props["test_llm_throughput[single]"]["latency_p99_ms"]) > 0


@pytest.mark.e2e
def test_a_weightless_shape_runs_with_random_weights_and_says_so(tmp_path: Path) -> None:
    """`bench build-model --shape tiny DIR` then `bench run --model DIR`: vLLM's load_format=dummy, noted in every
    result; its speed gates apply."""
    pytest.importorskip("vllm", reason="the CPU or CUDA build of vLLM is needed (make test installs it)")
    shape = tmp_path / "shape"
    cli = [sys.executable, "-m", "bench.cli"]
    built = subprocess.run([*cli, "build-model", "--shape", "tiny", str(shape)], capture_output=True, text=True,
                           cwd=REPO, timeout=300)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == str(shape.resolve())
    out = tmp_path / "result.json"
    proc = subprocess.run([*cli, "run", "llm_throughput", "--scenario", "offline", "--model", str(shape),
                           "--num-prompts", "8", "--results-dir", str(tmp_path / "results"), "--output", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"weights:  random (vLLM load_format=dummy; {shape.resolve()} has no weight files)" in proc.stdout
    result = json.loads(out.read_text())
    assert result["passed"] and result["config"]["engine"]["load_format"] == "dummy"
    assert result["config"]["weights"].startswith("random (vLLM load_format=dummy")
    assert any("random weights" in note and "speed gates apply" in note for note in result["notes"])
    summary = (tmp_path / "results" / "latest" / "summary.md").read_text()
    assert "- **weights**: random" in summary


def test_suite_rejects_bad_overrides_in_one_line(tmp_path: Path) -> None:
    proc = run_pytest("-m", "smoke", "--param", "llm_throughput.nope=1", f"--results-dir={tmp_path}", timeout=120)
    assert proc.returncode == 4
    assert "--param llm_throughput.nope: llm_throughput has no parameter 'nope'; its parameters: num_prompts" \
        in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--param", "nosuchkey=1"], "ERROR: --param nosuchkey: no benchmark of this run has a parameter 'nosuchkey'"),
        (["--param", "llm_throughput.input_len=abc"],
         "ERROR: --param llm_throughput.input_len=abc: expected an integer"),
        (["--bench-timeout", "0"], "ERROR: timeout must be ≥ 1 second, got 0"),
    ],
    ids=["unknown-param", "param-not-an-integer", "timeout-zero"],
)
def test_a_plan_error_leaves_no_run_directory(tmp_path: Path, args: list[str], error: str) -> None:
    """The plan is checked once pytest has collected the suite; the run directory is created only after that, so a
    bad option leaves the results directory as it was: no empty run, `latest` still on the previous run."""
    (tmp_path / "20250101-000000-abcd").mkdir()
    (tmp_path / "latest").symlink_to("20250101-000000-abcd")
    proc = run_pytest("-m", "smoke", "--collect-only", *args, f"--results-dir={tmp_path}", timeout=120)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    [line] = [line for line in proc.stderr.splitlines() if line.strip()]
    assert line.startswith(error)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20250101-000000-abcd", "latest"]
    assert os.readlink(tmp_path / "latest") == "20250101-000000-abcd"
    assert not any((tmp_path / "20250101-000000-abcd").iterdir())
    assert "generated xml file" not in proc.stdout  # no junit.xml promised in a run directory that does not exist


def test_suite_rejects_an_unknown_profile_in_one_line(tmp_path: Path) -> None:
    proc = run_pytest("-m", "smoke", "--profile", "foo", f"--results-dir={tmp_path}", timeout=120)
    assert proc.returncode == 4
    assert "unknown profile 'foo': choose one of tiny, llama3.1-8b" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_suite_options_beside_a_plugin_that_owns_timeout(tmp_path: Path) -> None:
    """GPU images carry pytest-timeout, whose --timeout our alias must give way to (seen on the H200: argparse's
    conflict error stopped pytest before it ran a test). A plugin that registers --timeout stands in for it."""
    (tmp_path / "owns_timeout.py").write_text(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--timeout', type=float, default=None, help='per-test timeout')\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "owns_timeout", "-m",
                           "smoke", "--collect-only", "--bench-timeout", "60", f"--results-dir={tmp_path}/r"],
                          capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "10/11 tests collected (1 deselected)" in proc.stdout
