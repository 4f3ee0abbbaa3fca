"""Bad inventories fail in the preflight play, with their message, before any host changes.

Every case runs the real playbooks/site.yml against one podman container (standing in for two inventory hosts,
told apart by kcloud_node_name) and checks: non-zero exit, the fail_msg naming the variable and the fix, a failed
task of the preflight role, no task of a later role, changed=0 for every host, and no file written on the host.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ansible._support import NODE_IMAGE, REPO, run_tool

CONTAINER = "kcloud-preflight-target"
Inventory = dict[str, Any]


def base_inventory() -> Inventory:
    host = {"ansible_connection": "containers.podman.podman", "ansible_host": CONTAINER}
    return {
        "k8s_cluster": {
            "children": {
                "kube_control_plane": {"hosts": {"cp": {**host, "kcloud_node_name": "cp"}}},
                "gpu_workers": {"hosts": {"gpu": {**host, "kcloud_node_name": "gpu"}}},
            },
            "vars": {
                "kcloud_kubernetes_version": "1.35.4",
                "kcloud_pod_subnet": "10.244.0.0/16",
                "kcloud_service_subnet": "10.96.0.0/12",
                "kcloud_nvidia_default_runtime": False,
            },
        }
    }


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Callable[[Inventory, str], None]
    message: str  # a regular expression the output must contain


def _two_control_planes(inv: Inventory, _: str) -> None:
    inv["k8s_cluster"]["children"]["kube_control_plane"]["hosts"]["gpu"] = None


def _missing_version(inv: Inventory, _: str) -> None:
    del inv["k8s_cluster"]["vars"]["kcloud_kubernetes_version"]


def _bad_version(inv: Inventory, _: str) -> None:
    inv["k8s_cluster"]["vars"]["kcloud_kubernetes_version"] = "1.35"


def _overlapping_subnets(inv: Inventory, _: str) -> None:
    inv["k8s_cluster"]["vars"]["kcloud_pod_subnet"] = "10.100.0.0/16"


def _pod_subnet_on_host_network(inv: Inventory, host_network: str) -> None:
    inv["k8s_cluster"]["vars"]["kcloud_pod_subnet"] = host_network


def _duplicate_node_names(inv: Inventory, _: str) -> None:
    children = inv["k8s_cluster"]["children"]
    del children["kube_control_plane"]["hosts"]["cp"]["kcloud_node_name"]
    del children["gpu_workers"]["hosts"]["gpu"]["kcloud_node_name"]


def _boolean_as_string(inv: Inventory, _: str) -> None:
    inv["k8s_cluster"]["vars"]["kcloud_nvidia_default_runtime"] = "yes"


def _gpu_workers_outside_cluster(inv: Inventory, _: str) -> None:
    inv["gpu_workers"] = inv["k8s_cluster"]["children"].pop("gpu_workers")


def _invalid_cidr(inv: Inventory, _: str) -> None:
    inv["k8s_cluster"]["vars"]["kcloud_service_subnet"] = "10.96.0.0/33"


CASES = [
    Case(
        "two_control_planes",
        _two_control_planes,
        r"Group kube_control_plane has 2 host\(s\) \(cp, gpu\); exactly 1 is supported",
    ),
    Case(
        "missing_kubernetes_version",
        _missing_version,
        r"Variable kcloud_kubernetes_version is not set\. Fix: set kcloud_kubernetes_version in group_vars/all",
    ),
    Case(
        "kubernetes_version_without_patch",
        _bad_version,
        r'Variable kcloud_kubernetes_version is "1\.35"; it must be a full release MAJOR\.MINOR\.PATCH',
    ),
    Case(
        "pod_and_service_subnets_overlap",
        _overlapping_subnets,
        r"kcloud_pod_subnet \(10\.100\.0\.0/16\) and kcloud_service_subnet \(10\.96\.0\.0/12\) overlap",
    ),
    Case(
        "pod_subnet_overlaps_host_network",
        _pod_subnet_on_host_network,
        r"Variable kcloud_pod_subnet \(\S+\) overlaps the network \S+ of interface \S+ on cp",
    ),
    Case(
        "duplicate_node_names", _duplicate_node_names, r"Node name\(s\) \S+ are used by more than one host \(cp, gpu\)"
    ),
    Case(
        "boolean_as_string",
        _boolean_as_string,
        r'Variable kcloud_nvidia_default_runtime is "yes" \(str\), not a boolean',
    ),
    Case(
        "gpu_workers_outside_k8s_cluster",
        _gpu_workers_outside_cluster,
        r"Hosts outside k8s_cluster: gpu\. Fix: nest both groups under k8s_cluster\.children",
    ),
    Case(
        "service_subnet_not_a_cidr",
        _invalid_cidr,
        r'Variable kcloud_service_subnet is "10\.96\.0\.0/33", not an IPv4 network in CIDR form',
    ),
]


@pytest.fixture(scope="module")
def target(podman: str) -> Iterator[str]:
    """One container the bad inventories point at; yields its host network (CIDR)."""
    subprocess.run([podman, "rm", "-f", CONTAINER], capture_output=True, check=False)
    subprocess.run(
        [
            podman,
            "run",
            "-d",
            "--name",
            CONTAINER,
            "--hostname",
            CONTAINER,
            "--ulimit",
            "nofile=4096:4096",
            "--ulimit",
            "nproc=8192:8192",
            NODE_IMAGE,
            "sleep",
            "infinity",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        info = json.loads(
            subprocess.run([podman, "inspect", CONTAINER], capture_output=True, text=True, check=True).stdout
        )[0]
        nets = info["NetworkSettings"].get("Networks") or {}
        first = next(iter(nets.values()), info["NetworkSettings"])
        network = ipaddress.ip_interface(f"{first['IPAddress']}/{first['IPPrefixLen']}").network
        yield str(network)
    finally:
        subprocess.run([podman, "rm", "-f", "-t", "0", CONTAINER], capture_output=True, check=False)


@pytest.mark.molecule
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_inventory_fails_in_preflight(
    case: Case, target: str, podman: str, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    inventory = copy.deepcopy(base_inventory())
    case.mutate(inventory, target)
    inv_file = tmp_path / "hosts.yml"
    inv_file.write_text(yaml.safe_dump(inventory, sort_keys=False))

    proc = run_tool("ansible-playbook", "-i", str(inv_file), str(REPO / "playbooks/site.yml"), timeout=300)
    output = proc.stdout + proc.stderr
    flat = re.sub(r"\s+", " ", output.replace("\\n", " "))
    assert proc.returncode != 0, output
    found = re.search(case.message, flat)
    assert found, f"expected /{case.message}/ in:\n{output}"
    record_property("preflight_message", found.group(0))
    assert re.search(r"TASK \[preflight : Preflight \|", output), output
    assert "Node prep |" not in output and "Containerd |" not in output, output
    recaps = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, flags=re.M)
    assert recaps and all(changed == "0" for _, changed in recaps), output
    untouched = subprocess.run(
        [podman, "exec", CONTAINER, "test", "!", "-e", "/etc/modules-load.d/kubernetes.conf"], check=False
    )
    assert untouched.returncode == 0, "a later role changed the host"
