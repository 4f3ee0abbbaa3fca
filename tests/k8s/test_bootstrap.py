"""`bench bootstrap` through the real ansible-runner and ansible-playbook: a project root (KCLOUD_PROJECT_ROOT) whose
playbooks/site.yml is a tiny localhost play that 'provisions' by writing the stand-in API server's admin kubeconfig
where the control_plane role fetches it (<inventory dir>/artifacts/admin.conf)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import bootstrap as bootstrap_module
from bench.bootstrap import PROJECT_ROOT_ENV, bootstrap
from bench.errors import BenchError
from bench.executors.k8s_manifests import KubernetesConfig
from bench.executors.kubernetes import KubernetesExecutor

from .standin_apiserver import StandInAPIServer

try:
    import ansible_runner  # noqa: F401
except ImportError:  # skip locally, fail in CI (a missing tool must not turn CI green)
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        raise
    pytest.skip("bench bootstrap needs ansible-runner: pip install -e '.[ansible]'", allow_module_level=True)
ROOT = Path(__file__).resolve().parents[2]

SITE_OK = """\
- name: Stand-in provisioning (writes the admin kubeconfig, as the control_plane role's fetch does)
  hosts: all
  gather_facts: false
  tasks:
    - name: Artifacts directory next to the inventory
      ansible.builtin.file:
        path: "{{ inventory_dir }}/artifacts"
        state: directory
        mode: "0700"
    - name: Fetch the admin kubeconfig
      ansible.builtin.copy:
        src: "{{ standin_kubeconfig }}"
        dest: "{{ inventory_dir }}/artifacts/admin.conf"
        mode: "0600"
"""
SITE_FAILS = """\
- name: Stand-in provisioning that fails
  hosts: all
  gather_facts: false
  tasks:
    - name: Initialise the control plane
      ansible.builtin.fail:
        msg: "kubeadm init failed (stand-in)"
"""


def project(tmp_path: Path, site: str) -> Path:
    root = tmp_path / "project"
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "site.yml").write_text(site)
    (root / "ansible.cfg").write_text("[defaults]\ninterpreter_python = auto_silent\nretry_files_enabled = False\n")
    return root


def inventory(tmp_path: Path, kubeconfig: Path) -> Path:
    hosts = tmp_path / "site" / "hosts.yml"
    hosts.parent.mkdir()
    hosts.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "standin_kubeconfig": str(kubeconfig)}}}}))
    return hosts


def bench_cli(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, PROJECT_ROOT_ENV: str(root)}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_bootstrap_runs_the_playbook_and_points_at_the_cluster(cluster: StandInAPIServer, tmp_path: Path) -> None:
    hosts = inventory(tmp_path, cluster.kubeconfig(tmp_path / "standin.conf"))
    out = bench_cli("bootstrap", "--inventory", str(hosts), root=project(tmp_path, SITE_OK))
    assert out.returncode == 0, out.stdout + out.stderr
    admin = tmp_path / "site" / "artifacts" / "admin.conf"
    lines = out.stdout.splitlines()
    assert "Fetch the admin kubeconfig" in out.stdout  # the play's own output, through ansible-runner
    assert f"[bootstrap] cluster ready; kubeconfig: {admin}" in lines
    assert (f"[bootstrap] prove it: pytest -m smoke --executor kubernetes --kubeconfig {admin} "
            f"--namespace kcloud-bench --profile llama3.1-8b") in lines
    # the kubeconfig it points at reaches the cluster
    executor = KubernetesExecutor(KubernetesConfig(kubeconfig=str(admin)), environ={})
    assert executor.server_version() == cluster.version


def test_bootstrap_failed_playbook_names_the_fix(tmp_path: Path) -> None:
    hosts = inventory(tmp_path, tmp_path / "unused.conf")
    out = bench_cli("bootstrap", "--inventory", str(hosts), root=project(tmp_path, SITE_FAILS))
    print("ERROR bootstrap:", out.stderr.strip())
    assert out.returncode == 2
    assert "kubeadm init failed (stand-in)" in out.stdout
    assert out.stderr == ("bench: error: provisioning failed (failed, exit code 2): see the play output above; fix "
                          "it and run `bench bootstrap` again (the playbook is re-runnable)\n")
    assert not (tmp_path / "site" / "artifacts" / "admin.conf").exists()


def test_bootstrap_smoke_launches_the_smoke_suite_on_the_new_cluster(cluster, tmp_path: Path, monkeypatch) -> None:
    hosts = inventory(tmp_path, cluster.kubeconfig(tmp_path / "standin.conf"))
    (tmp_path / "site" / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "site" / "group_vars" / "all" / "bench.yml").write_text("kcloud_benchmark_namespace: mlperf-smoke\n")
    root = project(tmp_path, SITE_OK)
    monkeypatch.setenv(PROJECT_ROOT_ENV, str(root))
    launched: list[tuple[list[str], Path]] = []
    real_run = subprocess.run

    def run(command, *args, **kwargs):  # the smoke suite itself is not run here: it needs the 8B model on GPUs
        if command[1:3] == ["-m", "pytest"]:
            launched.append((command, kwargs.get("cwd")))
            return subprocess.CompletedProcess(command, 0)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(bootstrap_module.subprocess, "run", run)
    lines: list[str] = []
    sigint = signal.getsignal(signal.SIGINT)
    assert bootstrap(hosts, smoke=True, results_dir=tmp_path / "results", echo=lines.append) == 0
    assert signal.getsignal(signal.SIGINT) is sigint  # Ctrl-C still interrupts this process afterwards
    admin = tmp_path / "site" / "artifacts" / "admin.conf"
    expected = [sys.executable, "-m", "pytest", f"--rootdir={root}", f"--config-file={root / 'pyproject.toml'}",
                "-m", "smoke", "--executor=kubernetes", f"--kubeconfig={admin}", "--namespace=mlperf-smoke",
                "--profile=llama3.1-8b", f"--results-dir={tmp_path / 'results'}"]
    assert launched == [(expected, root)]
    assert lines[-1] == f"[bootstrap] {shlex.join(expected)}"


def test_project_root_from_the_environment_must_hold_the_playbooks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PROJECT_ROOT_ENV, str(tmp_path))
    hosts = tmp_path / "hosts.yml"
    hosts.write_text("all: {}\n")
    with pytest.raises(BenchError, match=rf"{PROJECT_ROOT_ENV}=.* has no playbooks/site.yml: point it at"):
        bootstrap(hosts)
