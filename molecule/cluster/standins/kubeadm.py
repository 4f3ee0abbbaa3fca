#!/usr/bin/python3
"""kubeadm stand-in (test double) of the Molecule `cluster` scenario, installed as /usr/bin/kubeadm.

Supports exactly what the roles run: `version -o short`, `init --config F [--skip-token-print]`, `token create
--ttl T --print-join-command`, `join --config F`, `reset --force [--cri-socket S]`. It checks what kubeadm's
preflight and discovery check (files already present, container runtime reachable, cgroup driver, bootstrap token,
CA hash, API endpoint, duplicate node names), writes the files kubeadm writes (admin.conf, kubelet.conf, pki/,
manifests/) and registers the node in the shared state. Anything else fails. See kcloud_standin.py.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import yaml
from kcloud_standin import (
    Obj,
    StandinError,
    config,
    containerd_facts,
    gpu_lines,
    hostname,
    load_documents,
    memory_kib,
    mutate,
    parse_flags,
    read_source,
    run_tool,
)

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
ETC = Path("/etc/kubernetes")
KUBELET_CONF = ETC / "kubelet.conf"
ADMIN_CONF = ETC / "admin.conf"
CA_CERT = ETC / "pki/ca.crt"
APISERVER_MANIFEST = ETC / "manifests/kube-apiserver.yaml"
DEFAULT_CRI_SOCKET = "unix:///run/containerd/containerd.sock"


def version() -> str:
    return str(config()["kubernetes_version"])


def minor(v: str) -> str:
    return ".".join(v.lstrip("v").split(".")[:2])


def preflight_error(check: str, message: str) -> StandinError:
    return StandinError(
        "error execution phase preflight: [preflight] Some fatal errors occurred:\n"
        f"\t[ERROR {check}]: {message}\n"
        "[preflight] If you know what you are doing, you can make a check non-fatal with "
        "`--ignore-preflight-errors=...`"
    )


def check_runtime(cri_socket: str, cgroup_driver: str) -> Obj:
    """The CRI socket must answer, and kubelet's cgroup driver must match the default runc runtime's."""
    path = cri_socket.removeprefix("unix://")
    if not Path(path).is_socket():
        raise preflight_error("CRI", f"container runtime is not running: {cri_socket} is not a socket")
    facts = containerd_facts()
    systemd = facts["handlers"].get(facts["default_runtime"])
    if systemd is None:
        raise preflight_error("CRI", f'default runtime "{facts["default_runtime"]}" is not configured in containerd')
    if systemd != (cgroup_driver == "systemd"):
        raise StandinError(
            "[kubelet-check] The kubelet is not healthy: failed to run Kubelet: misconfiguration: kubelet cgroup "
            f'driver: "{cgroup_driver}" is different from the runtime\'s cgroup driver '
            f'("SystemdCgroup = {str(systemd).lower()}" for runtime "{facts["default_runtime"]}")'
        )
    return facts


def node_record(name: str, control_plane: bool, facts: Obj) -> Obj:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    taints: list[Obj] = []
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
        taints.append({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"})
    return {
        "name": name,
        "host": hostname(),
        "control_plane": control_plane,
        "labels": labels,
        "taints": taints,
        "containerd": facts,
        "gpu_lines": gpu_lines(),
        "cpu": os.cpu_count() or 1,
        "memory_kib": memory_kib(),
        "kubelet_version": version(),
        "registered": round(time.time(), 3),
    }


def kubeconfig(endpoint: str, cluster_name: str, user: str) -> str:
    def fake(what: str) -> str:
        return base64.b64encode(f"stand-in {what} for {user}@{cluster_name}".encode()).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": fake("CA")},
                }
            ],
            "contexts": [{"name": f"{user}@{cluster_name}", "context": {"cluster": cluster_name, "user": user}}],
            "current-context": f"{user}@{cluster_name}",
            "preferences": {},
            "users": [
                {"name": user, "user": {"client-certificate-data": fake("cert"), "client-key-data": fake("key")}}
            ],
        },
        sort_keys=False,
    )


def write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def start_kubelet() -> None:
    """kubeadm (re)starts kubelet after writing its configuration; the stand-in kubelet just stays up."""
    if shutil.which("systemctl"):
        subprocess.run(["systemctl", "restart", "kubelet"], capture_output=True, check=False)


def kubelet_config(cgroup_driver: str) -> str:
    return yaml.safe_dump({"apiVersion": KUBELET_API, "kind": "KubeletConfiguration", "cgroupDriver": cgroup_driver})


def cmd_version(args: list[str], _: Obj) -> int:
    flags, rest = parse_flags(args, {"-o": True, "--output": True}, "kubeadm version")
    if rest:
        raise StandinError(f'unknown command "{rest[0]}" for "kubeadm version"')
    output = flags.get("-o", flags.get("--output", ""))
    if output == "short":
        print(version())
    else:
        print(
            f'kubeadm version: &version.Info{{Major:"1", Minor:"{minor(version()).split(".")[1]}", '
            f'GitVersion:"{version()}", Platform:"linux/amd64"}}'
        )
    return 0


def cmd_init(args: list[str], extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--config": True, "--skip-token-print": False}, "kubeadm init")
    if rest or "--config" not in flags:
        raise StandinError("the kubeadm stand-in supports `kubeadm init --config FILE [--skip-token-print]` only")
    text = read_source(flags["--config"])
    extra["config_file"] = flags["--config"]
    extra["config"] = text
    docs = {d["kind"]: d for d in load_documents(text)}
    allowed = {
        "InitConfiguration": KUBEADM_API,
        "ClusterConfiguration": KUBEADM_API,
        "KubeletConfiguration": KUBELET_API,
        "KubeProxyConfiguration": "kubeproxy.config.k8s.io/v1alpha1",
    }
    for kind, doc in docs.items():
        if allowed.get(kind) != doc["apiVersion"]:
            raise StandinError(
                f'unable to read config from "{flags["--config"]}": no kind "{kind}" is registered '
                f'for version "{doc["apiVersion"]}"'
            )
    init, cluster, kubelet = (
        docs.get(k, {}) for k in ("InitConfiguration", "ClusterConfiguration", "KubeletConfiguration")
    )
    wanted = str(cluster.get("kubernetesVersion", version()))
    if minor(wanted) != minor(version()):
        raise StandinError(f"this version of kubeadm ({version()}) cannot deploy a control plane of version {wanted}")
    networking = cluster.get("networking", {})
    pod_subnet = str(networking.get("podSubnet", ""))
    service_subnet = str(networking.get("serviceSubnet", "10.96.0.0/12"))
    for name, cidr in (("podSubnet", pod_subnet), ("serviceSubnet", service_subnet)):
        try:
            ipaddress.ip_network(cidr)
        except ValueError as exc:
            raise StandinError(f'networking.{name}: Invalid value: "{cidr}": couldn\'t parse subnet') from exc
    registration = init.get("nodeRegistration", {})
    node_name = str(registration.get("name") or hostname())
    cgroup_driver = str(kubelet.get("cgroupDriver", "systemd"))
    if APISERVER_MANIFEST.exists():
        raise preflight_error(
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml", f"{APISERVER_MANIFEST} already exists"
        )
    facts = check_runtime(str(registration.get("criSocket", DEFAULT_CRI_SOCKET)), cgroup_driver)
    endpoint_api = init.get("localAPIEndpoint", {})
    endpoint = str(
        cluster.get("controlPlaneEndpoint")
        or f"{endpoint_api.get('advertiseAddress', '127.0.0.1')}:{endpoint_api.get('bindPort', 6443)}"
    )
    if not re.search(r":\d+$", endpoint):
        endpoint += ":6443"
    cluster_name = str(cluster.get("clusterName", "kubernetes"))
    with mutate() as state:
        if state["cluster"].get("initialized"):
            raise StandinError(f"stand-in: the shared cluster was already initialized on {state['cluster']['host']}")
        state["cluster"] = {
            "initialized": True,
            "host": hostname(),
            "endpoint": endpoint,
            "ca_hash": secrets.token_hex(32),
            "cluster_name": cluster_name,
            "kubernetes_version": wanted,
            "pod_subnet": pod_subnet,
            "service_subnet": service_subnet,
            "cgroup_driver": cgroup_driver,
        }
        state["nodes"] = {node_name: node_record(node_name, True, facts)}
        state["objects"] = {
            f"Namespace//{ns}": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease")
        }
        state["tokens"] = []
    extra["node"] = node_name
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        write(ETC / f"manifests/{component}.yaml", f"# stand-in static Pod manifest of {component} {wanted}\n")
    write(CA_CERT, "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n", 0o644)
    write(ADMIN_CONF, kubeconfig(endpoint, cluster_name, "kubernetes-admin"))
    write(ETC / "super-admin.conf", kubeconfig(endpoint, cluster_name, "kubernetes-super-admin"))
    write(KUBELET_CONF, kubeconfig(endpoint, cluster_name, f"system:node:{node_name}"))
    write(Path("/var/lib/kubelet/config.yaml"), kubelet_config(cgroup_driver), 0o644)
    start_kubelet()
    print("Your Kubernetes control-plane has initialized successfully!")
    return 0


def parse_ttl(ttl: str) -> float:
    found = re.fullmatch(r"(\d+)([smh])", ttl)
    if not found:
        raise StandinError(f'invalid argument "{ttl}" for "--ttl" flag: time: invalid duration')
    return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600}[found.group(2)]


def cmd_token(args: list[str], extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--ttl": True, "--print-join-command": False}, "kubeadm token")
    if rest != ["create"]:
        raise StandinError("the kubeadm stand-in supports `kubeadm token create [--ttl T] [--print-join-command]`")
    if not ADMIN_CONF.exists():
        raise StandinError(f"failed to load admin kubeconfig: open {ADMIN_CONF}: no such file or directory")
    ttl = parse_ttl(flags.get("--ttl", "24h"))
    token = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
    with mutate() as state:
        cluster = state["cluster"]
        if not cluster.get("initialized"):
            raise StandinError(
                f"couldn't create a bootstrap token: the API server at {cluster.get('endpoint')} is down"
            )
        state["tokens"].append({"token": token, "expires": time.time() + ttl})
    extra["token_id"] = token.split(".")[0]
    if "--print-join-command" in flags:
        print(
            f"kubeadm join {cluster['endpoint']} --token {token} "
            f"--discovery-token-ca-cert-hash sha256:{cluster['ca_hash']} "
        )
    else:
        print(token)
    return 0


def cmd_join(args: list[str], extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--config": True}, "kubeadm join")
    if rest or "--config" not in flags:
        raise StandinError("the kubeadm stand-in supports `kubeadm join --config FILE` only")
    docs = load_documents(read_source(flags["--config"]))
    joins = [d for d in docs if d["kind"] == "JoinConfiguration"]
    if len(joins) != 1 or joins[0]["apiVersion"] != KUBEADM_API or len(docs) != 1:
        raise StandinError(f"{flags['--config']}: expected exactly one JoinConfiguration of {KUBEADM_API}")
    join = joins[0]
    bootstrap = join.get("discovery", {}).get("bootstrapToken", {})
    token = str(bootstrap.get("token", ""))
    recorded = yaml.safe_load(yaml.safe_dump(join))
    if token:
        recorded["discovery"]["bootstrapToken"]["token"] = token.split(".")[0] + ".<redacted>"
    extra["config_file"] = flags["--config"]
    extra["join_configuration"] = recorded
    registration = join.get("nodeRegistration", {})
    node_name = str(registration.get("name") or hostname())
    extra["node"] = node_name
    for path in (KUBELET_CONF, CA_CERT):
        if path.exists():
            check = "FileAvailable-" + str(path).replace("/", "-")
            raise preflight_error(check, f"{path} already exists")
    with mutate() as state:
        cluster = state["cluster"]
        endpoint = str(bootstrap.get("apiServerEndpoint", ""))
        if not cluster.get("initialized") or endpoint != cluster["endpoint"]:
            raise StandinError(
                f"error execution phase preflight: couldn't validate the identity of the API Server: "
                f'Get "https://{endpoint}/api/v1/namespaces/kube-public/configmaps/cluster-info": '
                "dial tcp: connect: connection refused"
            )
        valid = [t for t in state["tokens"] if t["token"] == token and t["expires"] > time.time()]
        if not valid:
            raise StandinError(
                "error execution phase preflight: couldn't validate the identity of the API Server: "
                f"could not find a JWS signature in the cluster-info ConfigMap for token ID "
                f'"{token.split(".")[0]}"'
            )
        if f"sha256:{cluster['ca_hash']}" not in bootstrap.get("caCertHashes", []):
            raise StandinError(
                "error execution phase preflight: couldn't validate the identity of the API Server: "
                "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "
                f'"sha256:{cluster["ca_hash"]}" are pinned'
            )
        if node_name in state["nodes"]:
            raise StandinError(
                f'error execution phase kubelet-start: a Node with name "{node_name}" and status '
                '"Ready" already exists in the cluster. You must delete the existing Node or change '
                "the name of this new joining node"
            )
        facts = check_runtime(str(registration.get("criSocket", DEFAULT_CRI_SOCKET)), cluster["cgroup_driver"])
        state["nodes"][node_name] = node_record(node_name, False, facts)
        cluster_name = cluster["cluster_name"]
        cgroup_driver = cluster["cgroup_driver"]
    write(CA_CERT, "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n", 0o644)
    write(KUBELET_CONF, kubeconfig(endpoint, cluster_name, f"system:node:{node_name}"))
    write(Path("/var/lib/kubelet/config.yaml"), kubelet_config(cgroup_driver), 0o644)
    start_kubelet()
    print("This node has joined the cluster")
    return 0


def cmd_reset(args: list[str], extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--force": False, "-f": False, "--cri-socket": True}, "kubeadm reset")
    if rest or not ({"--force", "-f"} & flags.keys()):
        raise StandinError("the kubeadm stand-in supports `kubeadm reset --force [--cri-socket S]` only")
    host = hostname()
    with mutate() as state:
        mine = [n for n, node in state["nodes"].items() if node["host"] == host]
        if any(state["nodes"][n]["control_plane"] for n in mine):
            # The only control plane: its etcd, and so the whole cluster, is gone.
            state.update(cluster={}, nodes={}, objects={}, tokens=[])
        for name in mine:
            state["nodes"].pop(name, None)
    extra["nodes_removed"] = mine
    for path in (ETC / "manifests", ETC / "pki", Path("/var/lib/kubelet")):
        shutil.rmtree(path, ignore_errors=True)
    for path in (ADMIN_CONF, ETC / "super-admin.conf", KUBELET_CONF):
        path.unlink(missing_ok=True)
    print("[reset] Stopping the kubelet service")
    return 0


def main(argv: list[str], extra: Obj) -> int:
    commands = {"version": cmd_version, "init": cmd_init, "token": cmd_token, "join": cmd_join, "reset": cmd_reset}
    if not argv or argv[0] not in commands:
        raise StandinError(f"kubeadm stand-in: unsupported command {argv[:1]}; supported: {sorted(commands)}")
    extra["verb"] = argv[0]
    return commands[argv[0]](argv[1:], extra)


if __name__ == "__main__":
    run_tool("kubeadm", main)
