"""`bench bootstrap --inventory PATH [--smoke]`: provision the cluster with playbooks/site.yml (through
ansible-runner), then prove it with the smoke suite on the kubeconfig the playbook fetched.

Where things are (the provisioning roles document them, roles/*/defaults and inventory/example/group_vars/all):
the admin kubeconfig is fetched to `kcloud_admin_kubeconfig_dest`, by default `<inventory dir>/artifacts/admin.conf`;
benchmark Jobs run in `kcloud_benchmark_namespace`, by default `kcloud-bench`. The playbooks come from the checkout
named by $KCLOUD_PROJECT_ROOT, else the current directory, else the checkout this package was installed from.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.executors.k8s_manifests import DEFAULT_NAMESPACE

KUBECONFIG_VAR = "kcloud_admin_kubeconfig_dest"
NAMESPACE_VAR = "kcloud_benchmark_namespace"
DEFAULT_KUBECONFIG = "artifacts/admin.conf"  # relative to the inventory's directory
PROJECT_ROOT_ENV = "KCLOUD_PROJECT_ROOT"
SMOKE_PROFILE = "llama3.1-8b"
MISSING_RUNNER = ("bench bootstrap needs ansible-runner and Ansible on this machine: pip install -e '.[ansible]' "
                  "(see the README section Provision a cluster)")

Echo = Callable[[str], None]


def project_root(environ: Mapping[str, str] = os.environ) -> Path:
    """The checkout that holds playbooks/site.yml: $KCLOUD_PROJECT_ROOT, else the current directory, else the one
    this package was installed from."""
    explicit = environ.get(PROJECT_ROOT_ENV)
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not (root / "playbooks" / "site.yml").exists():
            raise BenchError(f"{PROJECT_ROOT_ENV}={explicit} has no playbooks/site.yml: point it at a kcloud-mlperf "
                             f"checkout, or unset it")
        return root
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (candidate / "playbooks" / "site.yml").exists():
            return candidate
    raise BenchError("playbooks/site.yml not found: run `bench bootstrap` from the kcloud-mlperf checkout, where "
                     f"the provisioning playbooks are, or set {PROJECT_ROOT_ENV}")


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


def run_playbook(root: Path, inventory: Path, echo: Echo = print) -> None:
    try:
        import ansible_runner
    except ImportError:
        raise BenchError(MISSING_RUNNER) from None
    envvars = {}
    if (root / "ansible.cfg").exists():
        envvars["ANSIBLE_CONFIG"] = str(root / "ansible.cfg")
    # ansible-playbook from the environment bench runs in, even when that environment is not activated
    bindir = Path(sys.executable).parent
    if (bindir / "ansible-playbook").exists():
        envvars["PATH"] = os.pathsep.join(filter(None, [str(bindir), os.environ.get("PATH")]))
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as private, _signal_handlers_restored():
        echo(f"[bootstrap] ansible-playbook -i {inventory} playbooks/site.yml  (in {root})")
        runner = ansible_runner.run(
            private_data_dir=private, project_dir=str(root), playbook=str(root / "playbooks" / "site.yml"),
            inventory=str(inventory), envvars=envvars, quiet=False,
        )
    if runner.status == "canceled":  # Ctrl-C: ansible-runner stopped the play; go on as an interrupt
        raise KeyboardInterrupt
    if runner.rc != 0:
        raise BenchError(f"provisioning failed ({runner.status}, exit code {runner.rc}): see the play output "
                         f"above; fix it and run `bench bootstrap` again (the playbook is re-runnable)")


@contextlib.contextmanager
def _signal_handlers_restored() -> Iterator[None]:
    """ansible-runner replaces the SIGINT/SIGTERM handlers (to stop the play cleanly) and leaves them in place,
    which would swallow every later Ctrl-C of this process: put the previous ones back."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(sig, handler)


def smoke_options(kubeconfig: Path, namespace: str, profile: str | None) -> dict[str, str]:
    """The suite's options for the smoke run on the freshly provisioned cluster (with `-m smoke`)."""
    return {"--executor": "kubernetes", "--kubeconfig": str(kubeconfig), "--namespace": namespace,
            "--profile": profile or SMOKE_PROFILE}


def smoke_args(options: Mapping[str, str]) -> list[str]:
    """pytest's arguments as a person types them."""
    return ["-m", "smoke", *(part for item in options.items() for part in item)]


def smoke_command(root: Path, options: Mapping[str, str]) -> list[str]:
    """`python -m pytest -m smoke OPTIONS` for the checkout `root`: pinned to its rootdir and pyproject.toml, each
    value joined to its option with `=`, so that a path (the kubeconfig beside an inventory elsewhere, the results
    directory) is never read as a test path, whichever pytest and plugins this Python has (bench/pytest_plugin.py)."""
    return [sys.executable, "-m", "pytest", f"--rootdir={root}", f"--config-file={root / 'pyproject.toml'}",
            "-m", "smoke", *(f"{option}={value}" for option, value in options.items())]


def bootstrap(inventory: Path, smoke: bool = False, profile: str | None = None,
              results_dir: Path = Path("results"), echo: Echo = print) -> int:
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
    namespace = str(inventory_vars(inventory).get(NAMESPACE_VAR) or DEFAULT_NAMESPACE)
    options = smoke_options(kubeconfig, namespace, profile)
    if not smoke:
        echo(f"[bootstrap] prove it: {shlex.join(['pytest', *smoke_args(options)])}")
        return 0
    command = smoke_command(root, {**options, "--results-dir": str(results_dir.resolve())})
    echo(f"[bootstrap] {shlex.join(command)}")
    return subprocess.run(command, cwd=root, check=False).returncode
