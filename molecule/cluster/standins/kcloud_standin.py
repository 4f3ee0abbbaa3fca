"""Shared state and call log of the recording stand-ins (test doubles) of the Molecule `cluster` scenario.

kubeadm, kubectl, kubelet and the NVIDIA driver cannot be installed or run in the podman containers of this
scenario, so prepare.yml puts small Python programs in their place. They keep "the cluster" as one JSON file in a
directory that every container mounts (the scenario's ephemeral directory), append every call to a JSON-lines log
there, and behave like the real tools where the roles can tell: exit codes, error messages, the files kubeadm
writes, node readiness that follows the pod network, DaemonSet scheduling that follows node labels. verify.yml
reads the log and the state. Nothing in roles/ knows about these programs.

Installed in the containers as /usr/lib/python3/dist-packages/kcloud_standin.py (Debian's python3 3.11).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = Path("/etc/kcloud-standin.json")
Obj = dict[str, Any]


class StandinError(Exception):
    """A failure the real tool would report: message on stderr, non-zero exit code."""

    def __init__(self, message: str, rc: int = 1) -> None:
        super().__init__(message)
        self.rc = rc


def config() -> Obj:
    """Written by prepare.yml: state_dir, kubernetes_version (vX.Y.Z)."""
    data: Obj = json.loads(CONFIG_FILE.read_text())
    return data


def state_dir() -> Path:
    return Path(config()["state_dir"])


def hostname() -> str:
    return socket.gethostname()


def empty_state() -> Obj:
    return {"seq": 0, "run": 0, "run_label": "", "cluster": {}, "nodes": {}, "objects": {}, "tokens": []}


@contextlib.contextmanager
def _lock(exclusive: bool) -> Iterator[Path]:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "lock").open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield directory
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(directory: Path) -> Obj:
    path = directory / "state.json"
    return json.loads(path.read_text()) if path.exists() else empty_state()


@contextlib.contextmanager
def mutate() -> Iterator[Obj]:
    """The state under an exclusive lock (containers run kubeadm join at the same time); saved on success."""
    with _lock(exclusive=True) as directory:
        state = _read(directory)
        yield state
        tmp = directory / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        os.replace(tmp, directory / "state.json")


def snapshot() -> Obj:
    with _lock(exclusive=False) as directory:
        return _read(directory)


def record(tool: str, argv: list[str], rc: int, extra: Obj) -> None:
    """Append one call to calls.jsonl with a global sequence number and the current run (see mark_run)."""
    with mutate() as state:
        state["seq"] += 1
        entry = {
            "seq": state["seq"],
            "run": state["run"],
            "run_label": state["run_label"],
            "time": round(time.time(), 3),
            "host": hostname(),
            "tool": tool,
            "argv": argv,
            "rc": rc,
            **extra,
        }
        with (state_dir() / "calls.jsonl").open("a") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")


def run_tool(tool: str, handler: Callable[[list[str], Obj], int]) -> None:
    """Entry point of every stand-in: run, print errors like the real tool, record the call, exit."""
    argv = sys.argv[1:]
    extra: Obj = {"verb": ""}  # the handler sets the subcommand once it has recognised it
    rc = 1
    try:
        rc = handler(argv, extra)
    except StandinError as exc:
        print(str(exc), file=sys.stderr)
        rc = exc.rc
        extra["error"] = str(exc)
    finally:
        record(tool, argv, rc, extra)
    sys.exit(rc)


def mark_run(label: str) -> int:
    """Test bookkeeping: start a new numbered run (converge, idempotence, side effect) in the log."""
    with mutate() as state:
        state["run"] += 1
        state["run_label"] = label
        number: int = state["run"]
    return number


# --- YAML documents -----------------------------------------------------------------------------------------------


def load_documents(text: str) -> list[Obj]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise StandinError(f"error: error validating data: apiVersion or kind not set in {str(doc)[:80]}")
    return docs


def read_source(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise StandinError(f'error: the path "{path}" does not exist') from exc


# --- Facts about the host the stand-in runs on (what kubelet would report) -------------------------------------


def containerd_facts() -> Obj:
    """Version, runtime handlers and default runtime of the running containerd, or a CRI preflight error."""
    dump = subprocess.run(["containerd", "config", "dump"], capture_output=True, text=True, check=False)
    version = subprocess.run(["containerd", "--version"], capture_output=True, text=True, check=False)
    if dump.returncode != 0 or version.returncode != 0:
        raise StandinError(
            "[preflight] Some fatal errors occurred:\n\t[ERROR CRI]: container runtime is not running: "
            + (dump.stderr or version.stderr).strip()
        )
    config_data = tomllib.loads(dump.stdout)
    plugins = config_data.get("plugins", {})
    cri = plugins.get("io.containerd.cri.v1.runtime") or plugins.get("io.containerd.grpc.v1.cri") or {}
    runtimes = cri.get("containerd", {}).get("runtimes", {})
    handlers = {name: bool(r.get("options", {}).get("SystemdCgroup", False)) for name, r in runtimes.items()}
    words = version.stdout.split()
    return {
        "version": words[2] if len(words) > 2 else "unknown",
        "handlers": handlers,
        "default_runtime": cri.get("containerd", {}).get("default_runtime_name", "runc"),
        "socket": config_data.get("grpc", {}).get("address", "/run/containerd/containerd.sock"),
    }


def gpu_lines() -> list[str]:
    """What `nvidia-smi --query-gpu=...` prints on this host; empty without a driver (no nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    out = subprocess.run(query, capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def memory_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def cidr_within(inner: str, outer: str) -> bool:
    try:
        return ipaddress.ip_network(inner).subnet_of(ipaddress.ip_network(outer))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False


def secret_digest(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


# --- Command lines ------------------------------------------------------------------------------------------------


def parse_flags(args: list[str], spec: dict[str, bool], command: str) -> tuple[dict[str, str], list[str]]:
    """Split ARGS into flags (spec: flag -> takes a value) and positionals; an unknown flag fails like kubectl."""
    flags: dict[str, str] = {}
    positionals: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            name, has_value, value = arg.partition("=")
            if name not in spec:
                raise StandinError(f'error: unknown flag: {name}\nSee "{command} --help" (stand-in: not supported)')
            if spec[name] and not has_value:
                if i + 1 >= len(args):
                    raise StandinError(f"error: flag needs an argument: {name}")
                i += 1
                value = args[i]
            flags[name] = value if spec[name] or has_value else "true"
        else:
            positionals.append(arg)
        i += 1
    return flags, positionals


if __name__ == "__main__":
    # Test bookkeeping, not a stand-in: `python3 -m kcloud_standin mark-run LABEL` numbers the next playbook run.
    if sys.argv[1:2] != ["mark-run"] or len(sys.argv) != 3:
        sys.exit("usage: python3 -m kcloud_standin mark-run LABEL")
    print(mark_run(sys.argv[2]))
