"""benchmarks/ under pytest-benchmark: `pytest benchmarks/ --benchmark-only` times the project's own performance
benchmarks and writes pytest-benchmark's JSON, and `make test` (pytest's testpaths) never collects them.

Both run pytest in a subprocess the way the Makefile does (rootdir and configuration file pinned), so the project's
pytest plugin and root conftest take part as they do for a user. Only the cheap scoring benchmarks run (`-k scoring`,
a few seconds); the LLM and ResNet-50 ones load models and are left to `pytest benchmarks/ --benchmark-only`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", f"--rootdir={REPO}", f"--config-file={REPO / 'pyproject.toml'}",
          "-p", "no:cacheprovider"]


def _pytest(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYTEST, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_scoring_benchmarks_run_under_pytest_benchmark_and_write_json(tmp_path: Path) -> None:
    pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is in the dev extra")
    report = tmp_path / "benchmarks.json"
    proc = _pytest("benchmarks/", "--benchmark-only", "-k", "scoring", f"--benchmark-json={report}",
                   f"--benchmark-storage=file://{tmp_path / 'storage'}", "--benchmark-min-rounds=2",
                   "--benchmark-max-time=0.1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    data = json.loads(report.read_text())
    ran = {b["name"]: b for b in data["benchmarks"]}
    assert {"test_rouge_scoring", "test_answer_extraction"} <= set(ran), sorted(ran)
    for bench in ran.values():
        assert bench["group"] == "scoring"
        assert bench["stats"]["rounds"] >= 2 and bench["stats"]["median"] > 0
    assert ran["test_rouge_scoring"]["extra_info"]["full_set_pairs"] == 13_368
    assert "benchmark 'scoring'" in proc.stdout  # pytest-benchmark's table, grouped


def test_make_test_does_not_collect_benchmarks() -> None:
    # `make test` runs pytest without paths: pytest collects its testpaths (pyproject.toml), here all of them
    proc = _pytest("--collect-only", "-q", timeout=90)
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert any(line.startswith("tests/unit/") for line in collected), proc.stdout[-3000:] + proc.stderr[-2000:]
    assert not [line for line in collected if line.startswith("benchmarks/")]
