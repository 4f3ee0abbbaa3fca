"""`bench bootstrap --inventory PATH [--smoke]`: provision the cluster with playbooks/site.yml (through
ansible-runner), then prove it with the smoke suite on the kubeconfig the playbook fetched.

Where things are (the provisioning roles document them, roles/*/defaults and inventory/example/group_vars/all):
the admin kubeconfig is fetched to `kcloud_admin_kubeconfig_dest`, by default `<inventory dir>/artifacts/admin.conf`;
benchmark Jobs run in `kcloud_benchmark_namespace`, by default `kcloud-bench`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.executors.k8s_manifests import DEFAULT_NAMESPACE

KUBECONFIG_VAR = "kcloud_admin_kubeconfig_dest"
NAMESPACE_VAR = "kcloud_benchmark_namespace"
DEFAULT_KUBECONFIG = "artifacts/admin.conf"  # relative to the inventory's directory


def project_root() -> Path:
    """The checkout that holds playbooks/ (the current directory, else the one this package was installed from)."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (candidate / "playbooks" / "site.yml").exists():
            return candidate
    raise BenchError("playbooks/site.yml not found: run `bench bootstrap` from the kcloud-mlperf checkout, where "
                     "the provisioning playbooks are")


def inventory_vars(inventory: Path) -> dict[str, Any]:
    """Literal values of group_vars/all/*.yml next to the inventory (templated values are left to Ansible)."""
    try:
        import yaml
    except ImportError:
        return {}
    found: dict[str, Any] = {}
    base = inventory.parent if inventory.is_file() else inventory
    for path in sorted((base / "group_vars" / "all").glob("*.y*ml")) + sorted(base.glob("group_vars/all.y*ml")):
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        found.update({k: v for k, v in data.items() if isinstance(v, str | int) and "{{" not in str(v)})
    return found


def fetched_kubeconfig(inventory: Path) -> Path:
    base = inventory.parent if inventory.is_file() else inventory
    explicit = inventory_vars(inventory).get(KUBECONFIG_VAR)
    return Path(explicit).expanduser() if explicit else base / DEFAULT_KUBECONFIG


def run_playbook(root: Path, inventory: Path, echo=print) -> None:
    try:
        import ansible_runner
    except ImportError:
        raise BenchError("bench bootstrap needs ansible-runner and Ansible on this machine: "
                         "pip install ansible-runner ansible (see the README section Provision a cluster)") from None
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as private:
        echo(f"[bootstrap] ansible-playbook -i {inventory} playbooks/site.yml")
        runner = ansible_runner.run(
            private_data_dir=private, project_dir=str(root), playbook=str(root / "playbooks" / "site.yml"),
            inventory=str(inventory), envvars={"ANSIBLE_CONFIG": str(root / "ansible.cfg")}, quiet=False,
        )
        if runner.rc != 0:
            raise BenchError(f"provisioning failed ({runner.status}, exit code {runner.rc}): see the play output "
                             f"above; fix it and run `bench bootstrap` again (the playbook is re-runnable)")


def bootstrap(inventory: Path, smoke: bool = False, profile: str | None = None,
              results_dir: Path = Path("results"), echo=print) -> int:
    inventory = inventory.expanduser().resolve()
    if not inventory.exists():
        raise BenchError(f"inventory {inventory} does not exist: copy inventory/example to inventory/<site> and "
                         f"pass --inventory inventory/<site>/hosts.yml")
    root = project_root()
    run_playbook(root, inventory, echo)
    kubeconfig = fetched_kubeconfig(inventory)
    if not kubeconfig.exists():
        raise BenchError(f"the playbook did not leave a kubeconfig at {kubeconfig} ({KUBECONFIG_VAR}); check the "
                         f"control_plane role's fetch step")
    echo(f"[bootstrap] cluster ready; kubeconfig: {kubeconfig}")
    if not smoke:
        echo(f"[bootstrap] prove it: pytest -m smoke --executor kubernetes --kubeconfig {kubeconfig}")
        return 0
    namespace = str(inventory_vars(inventory).get(NAMESPACE_VAR) or DEFAULT_NAMESPACE)
    command = [sys.executable, "-m", "pytest", "-m", "smoke", "--executor", "kubernetes", "--kubeconfig",
               str(kubeconfig), "--namespace", namespace, "--profile", profile or "llama3.1-8b",
               "--results-dir", str(results_dir.resolve())]
    echo(f"[bootstrap] {' '.join(command)}")
    return subprocess.run(command, cwd=root, check=False).returncode
