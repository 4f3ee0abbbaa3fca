"""Bad input on the command line: one line naming the problem and the fix, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, python: list[str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    cmd = [*(python or [sys.executable]), "-m", "bench.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env={"PYTHONPATH": str(REPO), "PATH": ""},
                          timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert expected in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "nope"], "bench: error: unknown benchmark 'nope': choose one of llm_throughput"),
        (["run", "llm_throughput", "--profile", "foo"], "unknown profile 'foo': choose one of tiny, llama3.1-8b"),
        (["run", "llm_throughput", "--model", "./no/such/dir"],
         "model path ./no/such/dir does not exist: pass an existing model directory or a Hugging Face id"),
        (["run", "llm_throughput", "--num-prompts", "-3"], "num_prompts must be ≥ 1, got -3"),
        (["run", "llm_throughput", "--num-prompts", "x"], "argument --num-prompts: expected an integer, got 'x'"),
        (["run", "llm_throughput", "--scenario", "server"], "unknown scenario 'server' for llm_throughput"),
        (["run", "llm_throughput", "--executor", "ssh"], "unknown executor 'ssh': choose one of local"),
        (["results", "show", "no-such-run"], "no run 'no-such-run' under results"),
        (["run", "llm_throughput", "--param", "foo=1"],
         "--param foo: no benchmark of this run has a parameter 'foo' (llm_throughput: num_prompts, input_len"),
        (["run", "llm_throughput", "--param", "llm_throughput.input_len=abc"], "input_len=abc: expected an integer"),
        (["run", "resnet50", "--param", "resnet50.batch=8"],
         "--param resnet50.batch: resnet50 has no parameter 'batch'; its parameters: rules, mode, device"),
        (["run", "llm_throughput", "--engine-arg", "enforce_eager"],
         "--engine-arg 'enforce_eager': expected KEY=VALUE"),
        (["run", "llm_throughput", "--engine-arg", "model=/x"], "--engine-arg model: not allowed (pass the model with"),
        (["build-model", "--shape", "llama3.1-8b"], "--shape llama3.1-8b needs a directory"),
        (["build-model", "--shape", "gpt5", "/tmp/x"], "unknown shape 'gpt5': choose one of llama3.1-8b"),
    ],
)
def test_bad_input_is_one_line(args: list[str], expected: str, tmp_path: Path) -> None:
    proc = bench(*args)
    assert_one_line_error(proc, expected)
    assert not (REPO / "results" / "no-such-run").exists()


def test_an_engine_arg_vllm_rejects_is_one_line_with_vllms_reason(tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="vLLM's own parser judges the engine arguments")
    proc = bench("run", "llm_throughput", "--engine-arg", "max_modl_len=2048", "--results-dir", str(tmp_path / "r"))
    assert_one_line_error(proc, "bench: error: --engine-arg max_modl_len=2048: vLLM ")
    assert "rejects it: EngineArgs.__init__() got an unexpected keyword argument 'max_modl_len' (did you mean " \
           "max_model_len" in proc.stderr
    proc = bench("run", "llm_throughput", "--engine-arg", "dtype=float17", "--results-dir", str(tmp_path / "r"))
    assert_one_line_error(proc, "--engine-arg dtype=float17: vLLM ")
    assert "argument --dtype: invalid choice: 'float17'" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_vllm_not_installed_is_one_line() -> None:
    # -S: no site-packages, so vLLM is absent; the CLI itself needs only the standard library.
    proc = bench("run", "llm_throughput", python=[sys.executable, "-S"])
    assert_one_line_error(proc, "vLLM is not installed in this Python environment: run `make smoke`")


def test_bad_input_creates_no_run_directory(tmp_path: Path) -> None:
    proc = bench("run", "llm_throughput", "--num-prompts", "0", "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert not (tmp_path / "r").exists()
