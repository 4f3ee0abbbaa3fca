"""The suite's path options work wherever the paths point and however they are spelled, through the real pytest.

pytest settles the rootdir and the configuration file from the free arguments before it loads the root conftest; a
separate value (`--results-dir /elsewhere`) used to be taken for a test path, so the run was rooted there, without
pyproject.toml's settings or the suite's options (`unrecognized arguments`). bench/pytest_plugin.py says how it is
handled; these run the commands a person types, from the checkout, with paths outside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "pytest"  # .venv/bin/pytest, as the README has it
SUITE_TESTS = 10


def pytest_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pytest"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, **(env or {})})


def assert_suite_collected(proc: subprocess.CompletedProcess[str]) -> None:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "unrecognized arguments" not in out
    assert f"rootdir: {REPO}" in proc.stdout and "configfile: pyproject.toml" in proc.stdout
    assert f"{SUITE_TESTS}/{SUITE_TESTS + 1} tests collected (1 deselected)" in proc.stdout  # the sweep: --full


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory that exists and is not inside the checkout."""
    assert REPO not in tmp_path.parents
    return tmp_path


def test_results_dir_outside_the_checkout_as_a_separate_argument(outside: Path) -> None:
    results = outside / "runs"
    results.mkdir()
    proc = pytest_cli("-m", "smoke", "--collect-only", "--results-dir", str(results))
    assert_suite_collected(proc)
    assert f"  results:  {results}/" in proc.stdout  # the suite's header: the run directory is under it
    assert [p.name for p in results.iterdir() if p.name.startswith(".")] == []  # no .pytest_cache: not the rootdir


def test_every_path_option_spelled_either_way(outside: Path) -> None:
    kubeconfig = outside / "site" / "artifacts" / "admin.conf"
    kubeconfig.parent.mkdir(parents=True)
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    model = outside / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    for spell in (lambda o, v: [o, v], lambda o, v: [f"{o}={v}"]):
        proc = pytest_cli("-m", "smoke", "--collect-only", "-p", "no:cacheprovider",
                          *spell("--results-dir", str(outside / "runs")), *spell("--model", str(model)),
                          "--executor", "kubernetes", *spell("--kubeconfig", str(kubeconfig)))
        assert_suite_collected(proc)
        assert "  executor: kubernetes (namespace kcloud-bench" in proc.stdout
        assert f"{model} has no weight files" in proc.stdout  # --model reached the suite's plan


def test_model_directory_as_a_separate_argument_alone(outside: Path) -> None:
    """The `pytest -m smoke --model DIR` of the README, nothing else naming a path."""
    model = outside / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    proc = pytest_cli("-m", "smoke", "--collect-only", "-p", "no:cacheprovider", "--model", str(model),
                      f"--results-dir={outside / 'runs'}")
    assert_suite_collected(proc)
    assert f"weights:  random (vLLM load_format=dummy; {model} has no weight files)" in proc.stdout


def test_run_from_another_directory_with_the_checkout_named(outside: Path) -> None:
    """From elsewhere, naming the checkout as the test path: rooted at the checkout, the results where asked."""
    proc = pytest_cli(str(REPO), "-m", "smoke", "--collect-only", "-p", "no:cacheprovider", "--results-dir",
                      str(outside / "runs"), cwd=outside)
    assert_suite_collected(proc)


def test_without_the_entry_point_the_conftest_still_brings_the_options(outside: Path) -> None:
    """A checkout on PYTHONPATH (the GPU machine) has no pytest11 entry point: the root conftest loads the plugin, and
    `--opt=VALUE` (the spelling the project's own scripts use) works; so does `-p bench.pytest_plugin` with either."""
    no_autoload = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = pytest_cli("-m", "smoke", "--collect-only", "-p", "no:cacheprovider", f"--results-dir={outside}",
                      "--timeout", "60", env=no_autoload)
    assert_suite_collected(proc)
    proc = pytest_cli("-p", "bench.pytest_plugin", "-m", "smoke", "--collect-only", "-p", "no:cacheprovider",
                      "--results-dir", str(outside), env=no_autoload)
    assert_suite_collected(proc)
