"""What the executor may do on a provisioned cluster: bench/executors/k8s_rbac.py's PERMISSIONS against the executor's
code, against the role template (both ways), against what a run asks the API server for; and a run under the
provisioned service account on the RBAC-enforcing stand-in — complete, then with one rule missing, which must say in
one line which rule to add."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.executors.k8s_rbac import PERMISSIONS, Permission, cluster_role_name, explain_forbidden, role_name, rules

from .conftest import NAMESPACE, TOKEN, StandInWorkloadExecutor, make_group, standin_nodes
from .provisioned import (
    REPO,
    SERVICE_ACCOUNT,
    assert_requests_listed,
    executor_requests,
    harness_client,
    provision,
    render_namespace_objects,
    without,
)
from .standin_apiserver import StandInAPIServer
from .test_executor import assert_nothing_left

SA_USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
LISTED = {(p.group, p.resource, p.verb, p.scope) for p in PERMISSIONS}


# ---- the list, the code and the template --------------------------------------------------------------------


def _api_classes() -> dict[str, tuple[type, str]]:
    """The `kubernetes` client's API classes this project may call, by the accessor that returns them, with their
    API group."""
    from kubernetes import client

    return {"core": (client.CoreV1Api, ""), "batch": (client.BatchV1Api, "batch"),
            "apps": (client.AppsV1Api, "apps"), "rbac": (client.RbacAuthorizationV1Api, "rbac.authorization.k8s.io"),
            "node": (client.NodeV1Api, "node.k8s.io"), "events": (client.EventsV1Api, "events.k8s.io")}


_VERB = {"list": "list", "read": "get", "create": "create", "replace": "update", "patch": "patch", "delete": "delete",
         "delete_collection": "deletecollection"}
_SUBRESOURCES = ("log", "status", "scale", "eviction", "binding", "ephemeralcontainers")


def _permission_of(method: str, receiver: str | None) -> Permission | None:
    """The permission a client method needs (`create_namespaced_config_map` → create configmaps, namespaced)."""
    for prefix in sorted(_VERB, key=len, reverse=True):
        if method.startswith(prefix + "_"):
            rest = method[len(prefix) + 1:]
            break
    else:
        return None
    classes = _api_classes()
    owners = [(name, group) for name, (cls, group) in classes.items() if hasattr(cls, method)]
    if not owners:
        return None
    if len(owners) > 1:  # e.g. list_namespaced_event is in core/v1 and events.k8s.io/v1: the receiver says which
        owners = [(n, g) for n, g in owners if receiver and n in receiver]
        assert len(owners) == 1, f"cannot tell which API group {method} (on {receiver}) calls"
    scope = "namespaced" if rest.startswith("namespaced_") else "cluster"
    kind = rest.removeprefix("namespaced_").removesuffix("_for_all_namespaces")  # list_pod_for_all_namespaces: pods
    sub = next((s for s in _SUBRESOURCES if kind.endswith("_" + s)), None)
    kind = kind.removesuffix("_" + sub) if sub else kind
    plural = kind.replace("_", "") + ("es" if kind.endswith(("s", "x", "ch", "sh")) else "s")
    return Permission(owners[0][1], f"{plural}/{sub}" if sub else plural, _VERB[prefix], scope)  # type: ignore[arg-type]


def _receiver(node: ast.expr) -> str | None:
    """`self.x._core()` → "_core", `core` → "core": what the API method is called on."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def permissions_in_code(paths: list[Path]) -> dict[Permission, list[str]]:
    """Every Kubernetes API method the code names, as the permission it needs, with where (file:line). A list
    method called with `watch=True` is a watch; one handed to `watch.Watch().stream` is a list and a watch."""
    found: dict[Permission, list[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        streamed = {id(call.args[0]) for call in ast.walk(tree) if isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute) and call.func.attr == "stream" and call.args}
        watches = {id(call.func) for call in ast.walk(tree) if isinstance(call, ast.Call) and any(
            kw.arg == "watch" and isinstance(kw.value, ast.Constant) and kw.value.value is True
            for kw in call.keywords)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            permission = _permission_of(node.attr, _receiver(node.value))
            if permission is None:
                continue
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            watch = Permission(permission.group, permission.resource, "watch", permission.scope)
            if id(node) in watches:
                found.setdefault(watch, []).append(where)
                continue
            found.setdefault(permission, []).append(where)
            if id(node) in streamed:
                found.setdefault(watch, []).append(where)
    return found


def test_the_permission_list_is_what_the_executor_code_calls() -> None:
    """Both ways: every client call in bench/ is listed, and nothing listed is left over from a call that went."""
    in_code = permissions_in_code(sorted((REPO / "bench").rglob("*.py")))
    assert in_code, "no Kubernetes client call found: the scan is broken"
    called = {(p.group, p.resource, p.verb, p.scope) for p in in_code}
    unlisted = {p: where for p, where in in_code.items() if (p.group, p.resource, p.verb, p.scope) not in LISTED}
    assert not unlisted, f"called but not in k8s_rbac.PERMISSIONS: {unlisted}"
    assert LISTED - called == set(), "listed in k8s_rbac.PERMISSIONS but called nowhere"


def test_the_role_template_grants_exactly_the_permission_list() -> None:
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render_namespace_objects(kcloud_benchmark_namespace="ml")}
    role = objects[("Role", role_name(SERVICE_ACCOUNT))]
    cluster_role = objects[("ClusterRole", cluster_role_name("ml", SERVICE_ACCOUNT))]
    granted = {(g, r, v, scope) for scope, obj in (("namespaced", role), ("cluster", cluster_role))
               for rule in obj["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    assert granted - LISTED == set(), "the role grants what the executor never calls"
    assert LISTED - granted == set(), "the executor calls what the role does not grant"
    # the same rules in the same order: the Molecule verify compares the applied objects with `rules()` as they are
    assert role["rules"] == rules("namespaced") and cluster_role["rules"] == rules("cluster")
    assert [k for k in objects if k[0] in ("Role", "ClusterRole")] == [("Role", "bench-runner"),
                                                                       ("ClusterRole", "kcloud-mlperf:ml:bench-runner")]
    account = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": "ml"}]
    binding = objects[("RoleBinding", SERVICE_ACCOUNT)]
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"] == "ml"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bench-runner"}
    assert binding["subjects"] == account
    cluster_binding = objects[("ClusterRoleBinding", cluster_role_name("ml", SERVICE_ACCOUNT))]
    assert cluster_binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                          "name": "kcloud-mlperf:ml:bench-runner"}
    assert cluster_binding["subjects"] == account


def test_the_module_prints_the_rules_for_the_molecule_verify() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-I", str(REPO / "bench/executors/k8s_rbac.py")], capture_output=True,
                         text=True, check=True).stdout  # -I: no site-packages, no checkout on the path
    assert json.loads(out) == {"role": rules("namespaced"), "cluster_role": rules("cluster")}


@pytest.mark.parametrize(("message", "expected"), [
    ('configmaps is forbidden: User "system:serviceaccount:mlperf:bench-runner" cannot create resource "configmaps" '
     'in API group "" in the namespace "mlperf"',
     'the service account system:serviceaccount:mlperf:bench-runner may not create configmaps in namespace mlperf: '
     'add {apiGroups: [""], resources: ["configmaps"], verbs: ["create"]} to Role bench-runner '
     '(roles/benchmark_namespace)'),
    ('nodes is forbidden: User "system:serviceaccount:mlperf:bench-runner" cannot list resource "nodes" in API group '
     '"" at the cluster scope',
     'the service account system:serviceaccount:mlperf:bench-runner may not list nodes (cluster-wide): add '
     '{apiGroups: [""], resources: ["nodes"], verbs: ["list"]} to ClusterRole kcloud-mlperf:mlperf:bench-runner '
     '(roles/benchmark_namespace)'),
    ('pods "bench-x-1" is forbidden: User "system:serviceaccount:mlperf:bench-runner" cannot get resource "pods/log" '
     'in API group "" in the namespace "mlperf"',
     'the service account system:serviceaccount:mlperf:bench-runner may not get pods/log in namespace mlperf: add '
     '{apiGroups: [""], resources: ["pods/log"], verbs: ["get"]} to Role bench-runner (roles/benchmark_namespace)'),
    ('jobs.batch is forbidden: User "system:serviceaccount:kcloud-bench:bench-runner" cannot create resource "jobs" '
     'in API group "batch" in the namespace "other"',
     'the service account system:serviceaccount:kcloud-bench:bench-runner may not create jobs in namespace other: '
     'its Role bench-runner is in namespace kcloud-bench (roles/benchmark_namespace); pass --namespace kcloud-bench, '
     'or add {apiGroups: ["batch"], resources: ["jobs"], verbs: ["create"]} to a Role in namespace other bound to it'),
    ('jobs.batch is forbidden: User "alice" cannot create resource "jobs" in API group "batch" in the namespace "ml"',
     'the user alice may not create jobs in namespace ml: grant {apiGroups: ["batch"], resources: ["jobs"], '
     'verbs: ["create"]} with a Role in namespace ml bound to alice (roles/benchmark_namespace grants what the '
     'executor needs to a service account)'),
    ('admission webhook "policy.example" denied the request: no', None),
], ids=["namespaced", "cluster-scoped", "subresource", "other-namespace", "user", "not-rbac"])
def test_a_forbidden_message_in_one_line(message: str, expected: str | None) -> None:
    assert explain_forbidden(message) == expected


# ---- runs under the provisioned service account -------------------------------------------------------------


@pytest.fixture
def rbac_cluster() -> Iterator[StandInAPIServer]:
    """The stand-in over TLS (in-cluster needs https), enforcing RBAC for service account tokens."""
    server = StandInAPIServer(standin_nodes(), tls=True).start()
    yield server
    server.stop()


def run_in_cluster(server: StandInAPIServer, token: str, tmp_path: Path, run_dir, lines: list[str],
                   environ: dict[str, str] | None = None):
    from .test_incluster import in_cluster_config, in_pod_environ, service_account

    sa = service_account(tmp_path / f"sa-{len(list(tmp_path.iterdir()))}", server.ca_cert, token)
    executor = StandInWorkloadExecutor("ok", in_cluster_config(), environ={**in_pod_environ(server), **(environ or {})},
                                       service_account_dir=sa)
    return executor.run(make_group(), run_dir, lines.append)


def test_a_run_under_the_provisioned_role_succeeds(rbac_cluster, run_dir, tmp_path: Path) -> None:
    """The role's objects applied through the API; the run in a 'pod' of its service account: the capacity check,
    the HF token Secret (created, then updated by a second run), the Job, its pods, log and cleanup — no 403."""
    token = provision(rbac_cluster, NAMESPACE)
    for run in ("created", "updated"):
        lines: list[str] = []
        results = run_in_cluster(rbac_cluster, token, tmp_path, run_dir, lines, {"HF_TOKEN": TOKEN})
        assert all(r.passed for r in results), [r.error for r in results]
        assert f"[kubernetes] Secret {NAMESPACE}/hf-token {run} from $HF_TOKEN (key HF_TOKEN; value not shown)" in lines
        assert not [line for line in lines if "may not" in line or "skipping" in line or "could not" in line], lines
        assert_nothing_left(rbac_cluster)
    requests = executor_requests(rbac_cluster)
    assert {r.user for r in requests} == {SA_USER}
    assert {("", "nodes", "list"), ("batch", "jobs", "create"), ("", "pods", "watch"), ("", "pods/log", "get"),
            ("", "secrets", "update"), ("", "secrets", "create")} <= {(r.group, r.resource, r.verb) for r in requests}
    assert_requests_listed(rbac_cluster)


MISSING_SECRET = "; the Job uses Secret hf-token if it already exists"


@pytest.mark.parametrize(("group", "resource", "verb", "where", "then"), [
    ("", "configmaps", "create", "in namespace mlperf", "error"),
    ("batch", "jobs", "create", "in namespace mlperf", "error"),
    ("", "pods", "watch", "in namespace mlperf", "error"),
    ("", "nodes", "list", "(cluster-wide)", "; skipping the GPU capacity check"),
    ("", "secrets", "create", "in namespace mlperf", MISSING_SECRET),
], ids=["configmaps-create", "jobs-create", "pods-watch", "nodes-list", "secrets-create"])
def test_a_missing_rule_is_one_line_naming_it(rbac_cluster, run_dir, tmp_path: Path, group: str, resource: str,
                                              verb: str, where: str, then: str) -> None:
    token = provision(rbac_cluster, NAMESPACE, lambda objects: without(objects, group, resource, verb))
    holder = (f"ClusterRole {cluster_role_name(NAMESPACE, SERVICE_ACCOUNT)}" if where == "(cluster-wide)"
              else f"Role {role_name(SERVICE_ACCOUNT)}")
    expected = (f"the service account {SA_USER} may not {verb} {resource} {where}: add "
                f'{{apiGroups: ["{group}"], resources: ["{resource}"], verbs: ["{verb}"]}} to {holder} '
                f"(roles/benchmark_namespace)")
    lines: list[str] = []
    results = run_in_cluster(rbac_cluster, token, tmp_path, run_dir, lines, {"HF_TOKEN": TOKEN})
    print(f"DIAGNOSIS rbac/{resource}-{verb}:", expected)
    if then == "error":  # the run cannot go on: every result says why, in one line
        assert [r.error for r in results] == [expected] * len(results)
    else:  # the run goes on without it, and says so once
        assert all(r.passed for r in results), [r.error for r in results]
        assert [line for line in lines if "may not" in line] == [f"[kubernetes] {expected}{then}"]
    assert_nothing_left(rbac_cluster)


def test_the_standin_refuses_as_kube_apiserver_does(rbac_cluster) -> None:
    """403 with the real Status for what no rule grants; 401 for a token of no one, or of a deleted account."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    token = provision(rbac_cluster, NAMESPACE)
    configuration = client.Configuration()
    configuration.host, configuration.ssl_ca_cert = rbac_cluster.url, str(rbac_cluster.ca_cert)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    core = client.CoreV1Api(client.ApiClient(configuration))
    core.list_namespaced_pod(NAMESPACE)  # granted
    with pytest.raises(ApiException) as refused:
        core.read_namespaced_config_map("x", NAMESPACE)  # not granted
    assert refused.value.status == 403
    assert json.loads(refused.value.body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": f'configmaps "x" is forbidden: User "{SA_USER}" cannot get resource "configmaps" in API group "" '
                   f'in the namespace "{NAMESPACE}"',
        "details": {"name": "x", "kind": "configmaps"}}
    with pytest.raises(ApiException) as refused:
        client.BatchV1Api(client.ApiClient(configuration)).list_namespaced_job("default")  # another namespace
    assert json.loads(refused.value.body)["details"] == {"kind": "jobs", "group": "batch"}
    assert json.loads(refused.value.body)["message"].startswith('jobs.batch is forbidden: User "system:serviceaccount')
    client.CoreV1Api(harness_client(rbac_cluster)).delete_namespaced_service_account(SERVICE_ACCOUNT, NAMESPACE)
    with pytest.raises(ApiException) as refused:
        core.list_namespaced_pod(NAMESPACE)
    assert refused.value.status == 401
    configuration.api_key = {"authorization": "Bearer not-a-token"}
    with pytest.raises(ApiException) as refused:
        client.VersionApi(client.ApiClient(configuration)).get_code()
    assert refused.value.status == 401
