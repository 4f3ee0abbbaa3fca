#!/usr/bin/python3
"""kubectl stand-in (test double) of the Molecule `cluster` scenario, installed as /usr/bin/kubectl.

Speaks exactly the subset of kubectl the roles use, against the shared stand-in state (see kcloud_standin.py):

  [--kubeconfig F] [-n NS] get --raw=/readyz | get node NAME -o json | get nodes -o json
                           | get daemonset NAME -o json | get serviceaccount NAME
  diff [--server-side] [--force-conflicts] -f FILE|-      exit 0 same, 1 different, 2 error (like kubectl)
  apply [--server-side] [--force-conflicts] -f FILE|-
  create -f FILE|-   delete [--ignore-not-found] [--wait=B] (-f FILE|- | job -l K=V)
  wait --for=condition=C [--timeout=D] (crd/NAME... | node --all | job/NAME | tigerastatus/calico)
  label node NAME [--overwrite] K=V...   logs job/NAME   rollout status daemonset/NAME [--timeout=D]

The cluster behaves where the roles can tell: a namespaced object needs its namespace, a custom resource its CRD
(also for `diff`, which cannot dry-run objects in a namespace the same file creates: kubernetes/kubernetes#114141);
nodes are Ready once Calico's Installation is applied with an IP pool inside kubeadm's podSubnet; a DaemonSet
schedules on the nodes whose labels match its nodeSelector; a node advertises nvidia.com/gpu once a device plugin
pod runs on it (it has GPUs, and the RuntimeClass and containerd handler the pod names exist); a Job completes on a
node that fits it and its log is that node's nvidia-smi output. Secret data is stored as sha256 digests only, and
stdin is never logged.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from kcloud_standin import (
    Obj,
    StandinError,
    cidr_within,
    load_documents,
    mutate,
    parse_flags,
    read_source,
    run_tool,
    secret_digest,
    snapshot,
)

# kind -> namespaced, for the kinds a cluster has without CRDs.
BUILTIN_KINDS = {
    "Namespace": False,
    "Node": False,
    "CustomResourceDefinition": False,
    "RuntimeClass": False,
    "ClusterRole": False,
    "ClusterRoleBinding": False,
    "PriorityClass": False,
    "ServiceAccount": True,
    "Role": True,
    "RoleBinding": True,
    "ConfigMap": True,
    "Secret": True,
    "Service": True,
    "Deployment": True,
    "DaemonSet": True,
    "Job": True,
    "Pod": True,
}
RESOURCE_ALIASES = {
    "node": "Node",
    "nodes": "Node",
    "no": "Node",
    "daemonset": "DaemonSet",
    "daemonsets": "DaemonSet",
    "ds": "DaemonSet",
    "serviceaccount": "ServiceAccount",
    "serviceaccounts": "ServiceAccount",
    "sa": "ServiceAccount",
    "job": "Job",
    "jobs": "Job",
    "crd": "CustomResourceDefinition",
    "crds": "CustomResourceDefinition",
    "customresourcedefinition": "CustomResourceDefinition",
    "customresourcedefinitions": "CustomResourceDefinition",
    "tigerastatus": "TigeraStatus",
}
# Longest time a `wait` polls: the stand-in state only changes through other calls, so waiting longer cannot help.
WAIT_CAP_S = 5.0
DEVICE_PLUGIN_IMAGE = "k8s-device-plugin"


# --- The cluster model ------------------------------------------------------------------------------------------


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def crd_for(state: Obj, kind: str, api_version: str) -> Obj | None:
    for key, obj in state["objects"].items():
        names = obj.get("spec", {}).get("names", {})
        if (
            key.startswith("CustomResourceDefinition/")
            and names.get("kind") == kind
            and obj["spec"].get("group") == group_of(api_version)
        ):
            return obj
    return None


def is_namespaced(state: Obj, doc: Obj) -> bool:
    kind = doc["kind"]
    if kind in BUILTIN_KINDS:
        return BUILTIN_KINDS[kind]
    crd = crd_for(state, kind, doc["apiVersion"])
    if crd is None:
        raise StandinError(
            f'error: resource mapping not found for name: "{doc.get("metadata", {}).get("name")}" '
            f'namespace: "" from "-": no matches for kind "{kind}" in version "{doc["apiVersion"]}"\n'
            "ensure CRDs are installed first"
        )
    return bool(crd["spec"].get("scope") == "Namespaced")


def identify(state: Obj, doc: Obj, default_ns: str | None) -> tuple[str, str]:
    """Storage key Kind/namespace/name and the namespace ('' for cluster-scoped objects)."""
    name = doc.get("metadata", {}).get("name")
    if not name:
        raise StandinError(f"error: error when retrieving current configuration of {doc['kind']}: name is required")
    namespace = (doc["metadata"].get("namespace") or default_ns or "default") if is_namespaced(state, doc) else ""
    return f"{doc['kind']}/{namespace}/{name}", namespace


def normalize(doc: Obj, namespace: str) -> Obj:
    """What the stand-in stores: the applied document, namespaced, status dropped, Secret values as digests."""
    clean = copy.deepcopy(doc)
    clean.pop("status", None)
    if namespace:
        clean["metadata"]["namespace"] = namespace
    if clean["kind"] == "Secret":
        data = {k: secret_digest(base64.b64decode(v).decode()) for k, v in (clean.pop("data", None) or {}).items()}
        data.update({k: secret_digest(v) for k, v in (clean.pop("stringData", None) or {}).items()})
        clean["data"] = data
    return clean


def calico_status(state: Obj) -> tuple[bool, str]:
    objects = state["objects"]
    if "Deployment/tigera-operator/tigera-operator" not in objects:
        return False, "the tigera operator is not installed"
    installation = objects.get("Installation//default")
    if installation is None:
        return False, "waiting for an Installation named default"
    pools = installation.get("spec", {}).get("calicoNetwork", {}).get("ipPools", [])
    pod_subnet = state["cluster"].get("pod_subnet", "")
    outside = [p.get("cidr") for p in pools if not cidr_within(str(p.get("cidr")), pod_subnet)]
    if not pools or outside:
        return (
            False,
            f"IP pool(s) {outside or 'none'} not within the cluster's pod CIDR {pod_subnet} (kubeadm podSubnet)",
        )
    return True, "All objects available"


def tolerated(taint: Obj, tolerations: list[Obj]) -> bool:
    for tol in tolerations:
        key_ok = tol.get("key") in (None, taint["key"])
        value_ok = tol.get("operator") == "Exists" or tol.get("value") == taint.get("value")
        effect_ok = tol.get("effect") in (None, "", taint["effect"])
        if key_ok and value_ok and effect_ok:
            return True
    return False


def schedulable(node: Obj, pod_spec: Obj) -> bool:
    selector = pod_spec.get("nodeSelector") or {}
    if any(node["labels"].get(k) != str(v) for k, v in selector.items()):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(tolerated(t, tolerations) for t in node["taints"] if t["effect"] in ("NoSchedule", "NoExecute"))


def pod_problem(state: Obj, node: Obj, pod_spec: Obj, namespace: str) -> str | None:
    """Why a pod of POD_SPEC cannot run on NODE, or None."""
    if not calico_status(state)[0]:
        return f"node {node['name']} is not Ready (no pod network)"
    runtime_class = pod_spec.get("runtimeClassName")
    if runtime_class:
        rc_obj = state["objects"].get(f"RuntimeClass//{runtime_class}")
        if rc_obj is None:
            return f'RuntimeClass "{runtime_class}" not found'
        selector = rc_obj.get("scheduling", {}).get("nodeSelector") or {}
        if any(node["labels"].get(k) != str(v) for k, v in selector.items()):
            return f'node {node["name"]} does not match the scheduling.nodeSelector of RuntimeClass "{runtime_class}"'
        if rc_obj.get("handler") not in node["containerd"]["handlers"]:
            return f'failed to get sandbox runtime: no runtime for "{rc_obj.get("handler")}" is configured'
    for volume in pod_spec.get("volumes") or []:
        name = (volume.get("configMap") or {}).get("name")
        if name and f"ConfigMap/{namespace}/{name}" not in state["objects"]:
            return f'configmap "{name}" not found'
    return None


def daemonset_pods(state: Obj, ds: Obj) -> dict[str, str | None]:
    """node name -> problem (None: running) for every node the DaemonSet schedules on."""
    pod_spec = ds.get("spec", {}).get("template", {}).get("spec", {})
    namespace = ds["metadata"]["namespace"]
    return {
        name: pod_problem(state, node, pod_spec, namespace)
        for name, node in sorted(state["nodes"].items())
        if schedulable(node, pod_spec)
    }


def node_gpus(state: Obj, node: Obj) -> int:
    """nvidia.com/gpu the node advertises: its GPUs, once a device plugin pod runs there."""
    if not node["gpu_lines"]:
        return 0
    for key, obj in state["objects"].items():
        containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        if (
            key.startswith("DaemonSet/")
            and any(DEVICE_PLUGIN_IMAGE in c.get("image", "") for c in containers)
            and daemonset_pods(state, obj).get(node["name"], "absent") is None
        ):
            return len(node["gpu_lines"])
    return 0


def node_view(state: Obj, node: Obj) -> Obj:
    ready, why = calico_status(state)
    allocatable = {"cpu": str(node["cpu"]), "memory": f"{node['memory_kib']}Ki", "pods": "110"}
    gpus = node_gpus(state, node)
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
    }
    if not ready:
        condition.update(
            status="False",
            reason="KubeletNotReady",
            message="container runtime network not ready: NetworkReady=false "
            f"reason:NetworkPluginNotReady message:cni plugin not initialized ({why})",
        )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node["name"], "labels": dict(node["labels"])},
        "spec": {"taints": node["taints"]} if node["taints"] else {},
        "status": {
            "allocatable": allocatable,
            "capacity": dict(allocatable),
            "conditions": [condition],
            "nodeInfo": {
                "kubeletVersion": node["kubelet_version"],
                "containerRuntimeVersion": f"containerd://{node['containerd']['version']}",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "architecture": "amd64",
            },
        },
    }


def job_status(state: Obj, job: Obj) -> tuple[str | None, str]:
    """(node the Job's pod completed on or None, reason)."""
    pod_spec = job.get("spec", {}).get("template", {}).get("spec", {})
    wanted = sum(
        int(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0)) for c in pod_spec.get("containers", [])
    )
    reasons = []
    for name, node in sorted(state["nodes"].items()):
        if not schedulable(node, pod_spec):
            reasons.append(f"{name}: node selector or taints")
            continue
        problem = pod_problem(state, node, pod_spec, job["metadata"]["namespace"])
        if problem is None and node_gpus(state, node) < wanted:
            problem = f"Insufficient nvidia.com/gpu ({node_gpus(state, node)} < {wanted})"
        if problem is None:
            return name, "Complete"
        reasons.append(f"{name}: {problem}")
    return None, f"0/{len(state['nodes'])} nodes are available: " + "; ".join(reasons)


def live_view(state: Obj, kind: str, namespace: str, name: str) -> Obj | None:
    """An object as `get -o json` shows it, with the status the stand-in derives."""
    if kind == "Node":
        node = state["nodes"].get(name)
        return node_view(state, node) if node else None
    if kind == "TigeraStatus":
        if name != "calico" or "Installation//default" not in state["objects"]:
            return None
        available, why = calico_status(state)
        return {
            "apiVersion": "operator.tigera.io/v1",
            "kind": "TigeraStatus",
            "metadata": {"name": name},
            "status": {"conditions": [{"type": "Available", "status": str(available), "message": why}]},
        }
    key = f"{kind}/{namespace if BUILTIN_KINDS.get(kind, False) else ''}/{name}"
    obj = state["objects"].get(key)
    if obj is None:
        return None
    view = copy.deepcopy(obj)
    if kind == "DaemonSet":
        pods = daemonset_pods(state, obj)
        running = sum(1 for p in pods.values() if p is None)
        view["status"] = {
            "desiredNumberScheduled": len(pods),
            "currentNumberScheduled": len(pods),
            "numberReady": running,
            "numberAvailable": running,
            "updatedNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "observedGeneration": 1,
        }
    elif kind == "Job":
        node, reason = job_status(state, obj)
        view["status"] = (
            {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
            if node
            else {"active": 1, "conditions": [], "message": reason}
        )
    elif kind == "CustomResourceDefinition":
        view["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
    return view


# --- Commands -----------------------------------------------------------------------------------------------------


def resource_kind(resource: str) -> str:
    kind = RESOURCE_ALIASES.get(resource.lower())
    if kind is None:
        raise StandinError(f'error: the server doesn\'t have a resource type "{resource}" (stand-in: not supported)')
    return kind


def not_found(kind: str, name: str) -> StandinError:
    return StandinError(f'Error from server (NotFound): {kind.lower()}s "{name}" not found')


def cmd_get(args: list[str], ns: str | None, extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--raw": True, "-o": True, "--output": True}, "kubectl get")
    if "--raw" in flags:
        if flags["--raw"] not in ("/readyz", "/livez", "/healthz") or rest:
            raise StandinError(f"stand-in: get --raw {flags['--raw']} is not supported")
        print("ok")
        return 0
    output = flags.get("-o", flags.get("--output", ""))
    if not rest or len(rest) > 2 or output not in ("", "json"):
        raise StandinError(f"stand-in: get {' '.join(args)} is not supported")
    kind = resource_kind(rest[0])
    state = snapshot()
    namespace = ns or "default"
    if len(rest) == 1:
        if kind != "Node" or output != "json":
            raise StandinError("stand-in: only `get nodes -o json` lists objects")
        items = [node_view(state, n) for _, n in sorted(state["nodes"].items())]
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
        return 0
    view = live_view(state, kind, namespace, rest[1])
    if view is None:
        raise not_found(kind, rest[1])
    if output == "json":
        print(json.dumps(view, indent=2))
    else:
        print(f"NAME{' ' * 20}AGE\n{rest[1]:<24}1m")
    return 0


def documents_for(args: list[str], command: str, extra_flags: dict[str, bool]) -> tuple[dict[str, str], list[Obj]]:
    flags, rest = parse_flags(args, {"-f": True, "--filename": True, **extra_flags}, command)
    source = flags.get("-f", flags.get("--filename"))
    if rest or source is None:
        raise StandinError(f"stand-in: {command} needs -f FILE|- and takes no other arguments")
    return flags, load_documents(read_source(source))


def cmd_diff(args: list[str], ns: str | None, extra: Obj) -> int:
    try:
        _, docs = documents_for(args, "kubectl diff", {"--server-side": False, "--force-conflicts": False})
        state = snapshot()
        changed = []
        for doc in docs:
            key, namespace = identify(state, doc, ns)
            if namespace and f"Namespace//{namespace}" not in state["objects"]:
                raise StandinError(f'Error from server (NotFound): namespaces "{namespace}" not found')
            if state["objects"].get(key) != normalize(doc, namespace):
                changed.append(key)
    except StandinError as exc:
        raise StandinError(str(exc), rc=2) from exc  # kubectl diff: exit code > 1 on errors
    extra["different"] = changed
    for key in changed:
        print(f"diff -u -N /tmp/LIVE/{key.replace('/', '.')} /tmp/MERGED/{key.replace('/', '.')}")
    return 1 if changed else 0


def cmd_apply(args: list[str], ns: str | None, extra: Obj) -> int:
    flags, docs = documents_for(args, "kubectl apply", {"--server-side": False, "--force-conflicts": False})
    server_side = "--server-side" in flags
    applied = []
    with mutate() as state:
        # kubectl maps every document to a resource before applying any: a CRD and its objects in one file fail.
        keys = [identify(state, doc, ns) for doc in docs]
        for doc, (key, namespace) in zip(docs, keys, strict=True):
            if namespace and f"Namespace//{namespace}" not in state["objects"]:
                raise StandinError(f'Error from server (NotFound): namespaces "{namespace}" not found')
            if not server_side and len(json.dumps(doc)) > 262144:
                raise StandinError(
                    f'The {doc["kind"]} "{doc["metadata"]["name"]}" is invalid: '
                    "metadata.annotations: Too long: must have at most 262144 bytes"
                )
            clean = normalize(doc, namespace)
            before = state["objects"].get(key)
            state["objects"][key] = clean
            verb = (
                "serverside-applied"
                if server_side
                else ("unchanged" if before == clean else "configured" if before else "created")
            )
            print(f"{doc['kind'].lower()}/{doc['metadata']['name']} {verb}")
            applied.append(key)
    extra["objects"] = applied
    return 0


def cmd_create(args: list[str], ns: str | None, extra: Obj) -> int:
    _, docs = documents_for(args, "kubectl create", {})
    created = []
    with mutate() as state:
        for doc in docs:
            key, namespace = identify(state, doc, ns)
            if namespace and f"Namespace//{namespace}" not in state["objects"]:
                raise StandinError(f'Error from server (NotFound): namespaces "{namespace}" not found')
            if key in state["objects"]:
                raise StandinError(
                    f"Error from server (AlreadyExists): {doc['kind'].lower()}s "
                    f'"{doc["metadata"]["name"]}" already exists'
                )
            state["objects"][key] = normalize(doc, namespace)
            print(f"{doc['kind'].lower()}/{doc['metadata']['name']} created")
            created.append(key)
    extra["objects"] = created
    return 0


def cmd_delete(args: list[str], ns: str | None, extra: Obj) -> int:
    spec = {"-f": True, "--filename": True, "--ignore-not-found": False, "--wait": True, "-l": True, "--selector": True}
    flags, rest = parse_flags(args, spec, "kubectl delete")
    ignore = flags.get("--ignore-not-found", "false") == "true"
    selector = flags.get("-l", flags.get("--selector"))
    deleted = []
    with mutate() as state:
        if selector is not None:
            if rest != ["job"] and rest != ["jobs"]:
                raise StandinError("stand-in: delete -l supports jobs only")
            wanted = dict(pair.split("=", 1) for pair in selector.split(","))
            targets = [
                k
                for k, o in state["objects"].items()
                if k.startswith(f"Job/{ns or 'default'}/")
                and all(o["metadata"].get("labels", {}).get(a) == b for a, b in wanted.items())
            ]
        else:
            source = flags.get("-f", flags.get("--filename"))
            if rest or source is None:
                raise StandinError("stand-in: delete needs -f FILE|- or TYPE -l SELECTOR")
            targets = []
            for doc in load_documents(read_source(source)):
                key, _ = identify(state, doc, ns)
                if key not in state["objects"] and not ignore:
                    raise not_found(doc["kind"], doc["metadata"]["name"])
                targets.append(key)
        for key in targets:
            if state["objects"].pop(key, None) is not None:
                print(f"{key.split('/')[0].lower()}/{key.split('/')[-1]} deleted")
                deleted.append(key)
    extra["objects"] = deleted
    return 0


def parse_duration(text: str) -> float:
    found = re.fullmatch(r"(\d+)(s|m|h)?", text)
    if not found:
        raise StandinError(f'error: invalid argument "{text}" for "--timeout" flag')
    return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[found.group(2)]


def poll(timeout_s: float, check: Callable[[Obj], tuple[bool, str]]) -> tuple[bool, str]:
    deadline = time.monotonic() + min(timeout_s, WAIT_CAP_S)
    while True:
        ok, detail = check(snapshot())
        if ok or time.monotonic() >= deadline:
            return ok, detail
        time.sleep(0.25)


def cmd_wait(args: list[str], ns: str | None, extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--for": True, "--timeout": True, "--all": False}, "kubectl wait")
    condition = flags.get("--for", "").removeprefix("condition=")
    timeout = parse_duration(flags.get("--timeout", "30s"))
    namespace = ns or "default"
    if "--all" in flags:
        if [resource_kind(r) for r in rest] != ["Node"] or condition != "Ready":
            raise StandinError("stand-in: wait --all supports `node --all --for=condition=Ready` only")

        def check(state: Obj) -> tuple[bool, str]:
            views = [node_view(state, n) for n in state["nodes"].values()]
            bad = [v["metadata"]["name"] for v in views if v["status"]["conditions"][0]["status"] != "True"]
            return bool(views) and not bad, ", ".join(f"nodes/{b}" for b in bad) or "no nodes"
    else:
        targets = []
        for ref in rest:
            resource, _, name = ref.partition("/")
            targets.append((resource_kind(resource), name))
        supported = {("CustomResourceDefinition", "Established"), ("Job", "Complete"), ("TigeraStatus", "Available")}
        if not targets or any((kind, condition) not in supported for kind, _ in targets):
            raise StandinError(f"stand-in: wait --for=condition={condition} {' '.join(rest)} is not supported")

        def check(state: Obj) -> tuple[bool, str]:
            missing = []
            for kind, name in targets:
                view = live_view(state, kind, namespace, name)
                conditions = (view or {}).get("status", {}).get("conditions", [])
                if not any(c["type"] == condition and c["status"] == "True" for c in conditions):
                    missing.append(
                        f"{kind.lower()}s/{name}"
                        + (f" ({view['status'].get('message')})" if view and view["status"].get("message") else "")
                    )
            return not missing, ", ".join(missing)

    ok, detail = poll(timeout, check)
    if not ok:
        raise StandinError(f"error: timed out waiting for the condition on {detail}")
    for ref in rest:
        print(f"{ref} condition met")
    return 0


def cmd_label(args: list[str], ns: str | None, extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--overwrite": False}, "kubectl label")
    if len(rest) < 3 or resource_kind(rest[0]) != "Node":
        raise StandinError("stand-in: label supports `label node NAME [--overwrite] K=V...` only")
    name, pairs = rest[1], rest[2:]
    with mutate() as state:
        node = state["nodes"].get(name)
        if node is None:
            raise not_found("Node", name)
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise StandinError(f"error: invalid label spec: {pair} (stand-in: removal not supported)")
            if key in node["labels"] and node["labels"][key] != value and "--overwrite" not in flags:
                raise StandinError(
                    f"error: '{key}' already has a value ({node['labels'][key]}), and --overwrite is false"
                )
            node["labels"][key] = value
    extra["node"] = name
    extra["labels"] = pairs
    print(f"node/{name} labeled")
    return 0


def cmd_logs(args: list[str], ns: str | None, extra: Obj) -> int:
    _, rest = parse_flags(args, {}, "kubectl logs")
    if len(rest) != 1 or not rest[0].startswith("job/"):
        raise StandinError("stand-in: logs supports `logs job/NAME` only")
    name = rest[0].split("/", 1)[1]
    state = snapshot()
    job = state["objects"].get(f"Job/{ns or 'default'}/{name}")
    if job is None:
        raise not_found("Job", name)
    node, reason = job_status(state, job)
    if node is None:
        raise StandinError(
            f'Error from server (BadRequest): container "cuda" in pod "{name}" is waiting to start: {reason}'
        )
    command = job["spec"]["template"]["spec"]["containers"][0].get("command", [])
    if command[:1] == ["nvidia-smi"]:
        print("\n".join(state["nodes"][node]["gpu_lines"]))
    return 0


def cmd_rollout(args: list[str], ns: str | None, extra: Obj) -> int:
    flags, rest = parse_flags(args, {"--timeout": True}, "kubectl rollout")
    if len(rest) != 2 or rest[0] != "status" or not rest[1].startswith("daemonset/"):
        raise StandinError("stand-in: rollout supports `rollout status daemonset/NAME` only")
    name = rest[1].split("/", 1)[1]

    def check(state: Obj) -> tuple[bool, str]:
        view = live_view(state, "DaemonSet", ns or "default", name)
        if view is None:
            return False, f'daemonsets.apps "{name}" not found'
        status = view["status"]
        return status["numberReady"] == status["desiredNumberScheduled"], (
            f"{status['numberReady']} of {status['desiredNumberScheduled']} updated pods are available"
        )

    ok, detail = poll(parse_duration(flags.get("--timeout", "300s")), check)
    if not ok:
        raise StandinError(f"error: timed out waiting for the condition ({detail})")
    print(f'daemon set "{name}" successfully rolled out')
    return 0


def split_globals(argv: list[str]) -> tuple[str, str | None, list[str]]:
    kubeconfig = os.environ.get("KUBECONFIG", str(Path.home() / ".kube/config"))
    namespace = None
    rest = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, has_value, value = arg.partition("=")
        if name in ("--kubeconfig", "-n", "--namespace"):
            if not has_value:
                i += 1
                value = argv[i] if i < len(argv) else ""
            if name == "--kubeconfig":
                kubeconfig = value
            else:
                namespace = value
        else:
            rest.append(arg)
        i += 1
    return kubeconfig, namespace, rest


def main(argv: list[str], extra: Obj) -> int:
    kubeconfig, namespace, rest = split_globals(argv)
    commands = {
        "get": cmd_get,
        "diff": cmd_diff,
        "apply": cmd_apply,
        "create": cmd_create,
        "delete": cmd_delete,
        "wait": cmd_wait,
        "label": cmd_label,
        "logs": cmd_logs,
        "rollout": cmd_rollout,
    }
    if not rest or rest[0] not in commands:
        raise StandinError(f"kubectl stand-in: unsupported command {rest[:1]}; supported: {sorted(commands)}")
    extra["verb"] = rest[0]
    if not Path(kubeconfig).is_file():
        raise StandinError(f"error: stat {kubeconfig}: no such file or directory")
    server = yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
    cluster = snapshot()["cluster"]
    if not cluster.get("initialized") or server != f"https://{cluster['endpoint']}":
        raise StandinError(
            f"The connection to the server {server.removeprefix('https://')} was refused - "
            "did you specify the right host or port?"
        )
    return commands[rest[0]](rest[1:], namespace, extra)


if __name__ == "__main__":
    run_tool("kubectl", main)
