"""`bench bootstrap --smoke` with the inventory in another directory reaches the suite: the real ansible-runner runs a
stand-in site.yml that 'fetches' the kubeconfig next to the inventory, then bench starts the real pytest on the
project root with that kubeconfig and a results directory outside the checkout. PYTEST_ADDOPTS=--collect-only (read
by pytest itself) stops it once the suite is collected: the smoke run proper needs the 8B model on GPUs.

The project root (KCLOUD_PROJECT_ROOT) holds the stand-in playbook beside a copy of the suite (pyproject.toml,
conftest.py, tests/benchmarks), as a checkout does; `bench` itself is the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.k8s.test_bootstrap import SITE_OK  # its import skips (or, in CI, fails) without ansible-runner

REPO = Path(__file__).resolve().parents[2]


def checkout_with_standin_playbook(root: Path) -> Path:
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "site.yml").write_text(SITE_OK)
    (root / "ansible.cfg").write_text("[defaults]\ninterpreter_python = auto_silent\nretry_files_enabled = False\n")
    for name in ("pyproject.toml", "conftest.py", "tests/__init__.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / name, root / name)
    shutil.copytree(REPO / "tests" / "benchmarks", root / "tests" / "benchmarks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_bootstrap_smoke_reaches_the_suite_with_the_inventory_elsewhere(tmp_path: Path) -> None:
    root = checkout_with_standin_playbook(tmp_path / "checkout")
    site = tmp_path / "elsewhere" / "site"
    (site / "group_vars" / "all").mkdir(parents=True)
    (site / "group_vars" / "all" / "bench.yml").write_text("kcloud_benchmark_namespace: mlperf-smoke\n")
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "c", "contexts": [
        {"name": "c", "context": {"cluster": "c", "user": "u"}}], "clusters": [
        {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}], "users": [{"name": "u", "user": {}}]}
    (tmp_path / "standin.conf").write_text(json.dumps(kubeconfig))
    (site / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "standin_kubeconfig": str(tmp_path / "standin.conf")}}}}))
    results = tmp_path / "runs"
    env = {**os.environ, "KCLOUD_PROJECT_ROOT": str(root), "PYTEST_ADDOPTS": "--collect-only -p no:cacheprovider"}
    proc = subprocess.run([sys.executable, "-m", "bench", "bootstrap", "--inventory", str(site / "hosts.yml"),
                           "--smoke", "--results-dir", str(results)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    admin = site / "artifacts" / "admin.conf"
    assert f"[bootstrap] cluster ready; kubeconfig: {admin}" in proc.stdout
    assert "unrecognized arguments" not in out
    assert f"rootdir: {root}" in proc.stdout and "configfile: pyproject.toml" in proc.stdout
    assert "  executor: kubernetes (namespace mlperf-smoke" in proc.stdout  # the inventory's namespace reached it
    assert "  profile:  llama3.1-8b (chosen with --profile)" in proc.stdout
    assert f"  results:  {results}/" in proc.stdout
    assert "10/11 tests collected (1 deselected)" in proc.stdout
