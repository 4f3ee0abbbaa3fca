"""The Kubernetes API permissions the executor uses, and a 403 from the API server said in those terms.

PERMISSIONS is every (API group, resource, verb, scope) the kubernetes executor calls, read off the client calls in
bench/executors/kubernetes.py. The provisioning role roles/benchmark_namespace grants exactly these to its service
account: the namespaced ones in the Role <service account>, the cluster-scoped ones (a Role cannot grant them: nodes,
RuntimeClasses, and pods in every namespace — what runs on a node) in the ClusterRole `cluster_role_name()` with a
ClusterRoleBinding. tests/k8s/test_rbac.py holds the three together: the rendered template against this list (both
ways), the client calls in the executor's code against it, and every request a stand-in run makes against it.

A new API call (an Indexed Job, a CronJob) is a new line in `_GRANTS` and its rule in
roles/benchmark_namespace/templates/namespace.yaml.j2; `python bench/executors/k8s_rbac.py` prints the rules as JSON
(the Molecule verify compares the cluster's Role and ClusterRole with it). Only the standard library: it runs from a
checkout without the package installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["namespaced", "cluster"]
ROLE_PATH = "roles/benchmark_namespace"  # the provisioning role that grants PERMISSIONS


@dataclass(frozen=True)
class Permission:
    """One verb on one resource ("pods/log" for a subresource) of one API group ("" is the core group)."""

    group: str
    resource: str
    verb: str
    scope: Scope
    why: str = field(default="", compare=False)

    def rule(self) -> str:
        """The RBAC rule that grants it, as a Role's `rules:` entry in flow style."""
        return f'{{apiGroups: ["{self.group}"], resources: ["{self.resource}"], verbs: ["{self.verb}"]}}'


# (scope, API group, resource, verbs, the executor calls that need them)
_GRANTS: tuple[tuple[Scope, str, str, tuple[str, ...], str], ...] = (
    ("namespaced", "batch", "jobs", ("create", "get", "delete"),
     "submit: create_namespaced_job; the Job's conditions: read_namespaced_job; cleanup: delete_namespaced_job"),
    ("namespaced", "", "pods", ("list", "watch", "delete"),
     "follow: list_namespaced_pod and its watch; a lost node's pods: delete_namespaced_pod (grace 0)"),
    ("namespaced", "", "pods/log", ("get",), "the live log: read_namespaced_pod_log(follow=True)"),
    ("namespaced", "", "configmaps", ("create", "delete"),
     "submit: create_namespaced_config_map (group config + bench package); cleanup: delete_namespaced_config_map"),
    ("namespaced", "", "secrets", ("create", "update"),
     "the HF token Secret from $HF_TOKEN: replace_namespaced_secret, else create_namespaced_secret"),
    ("namespaced", "", "events", ("list",),
     "a Job without pods: list_namespaced_event (the Job controller's FailedCreate warnings); the server pod's "
     "probe failures (Unhealthy, Killing)"),
    ("namespaced", "apps", "deployments", ("create", "get", "list", "watch", "delete"),
     "a serving group's vLLM server (k8s_server.py): create_namespaced_deployment; its readiness: "
     "list_namespaced_deployment and its watch; mid-run: read_namespaced_deployment; cleanup: "
     "delete_namespaced_deployment"),
    ("namespaced", "", "services", ("create", "get", "delete"),
     "the server's ClusterIP Service: create_namespaced_service, read_namespaced_service (before the client "
     "starts), delete_namespaced_service"),
    ("cluster", "", "nodes", ("get", "list"),
     "capacity check and a comparison's node: list_node (allocatable nvidia.com/gpu); node loss: read_node"),
    ("cluster", "", "pods", ("list",),
     "a comparison's node: list_pod_for_all_namespaces(fieldSelector spec.nodeName) — the GPUs its pods request"),
    ("cluster", "node.k8s.io", "runtimeclasses", ("list",),
     "a comparison's variants: list_runtime_class (each variant's RuntimeClass exists)"),
)
PERMISSIONS: tuple[Permission, ...] = tuple(
    Permission(group, resource, verb, scope, why) for scope, group, resource, verbs, why in _GRANTS for verb in verbs
)


def rules(scope: Scope) -> list[dict[str, list[str]]]:
    """The Role (namespaced) or ClusterRole (cluster) rules that grant PERMISSIONS: one rule per resource, in the
    order of `_GRANTS` — the order the role template lists them in."""
    return [{"apiGroups": [group], "resources": [resource], "verbs": list(verbs)}
            for s, group, resource, verbs, _ in _GRANTS if s == scope]


def role_name(service_account: str) -> str:
    """The Role (in the service account's namespace) that the provisioning role creates: named as the account."""
    return service_account


def cluster_role_name(namespace: str, service_account: str) -> str:
    """The ClusterRole for the cluster-scoped permissions: one per namespace's account, as ClusterRoles are global."""
    return f"kcloud-mlperf:{namespace}:{service_account}"


def find(group: str, resource: str, verb: str) -> Permission | None:
    return next((p for p in PERMISSIONS if (p.group, p.resource, p.verb) == (group, resource, verb)), None)


# kube-apiserver's words (k8s.io/apiserver endpoints/handlers/responsewriters/errors.go, forbiddenMessage), after
# `<resource>[.<group>] ["<name>"] is forbidden: `.
_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>[a-z]+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)'
)
_SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:(?P<namespace>[^:]+):(?P<name>[^:]+)$")


def explain_forbidden(message: str) -> str | None:
    """One line for a 403's message: who may not do what, where, and the rule (and the Role) that grants it. None
    when the message is not RBAC's (an admission webhook, another authorizer)."""
    m = _FORBIDDEN.search(message)
    if not m:
        return None
    user, verb, resource, group, namespace = m.group("user", "verb", "resource", "group", "namespace")
    scope: Scope = "namespaced" if namespace else "cluster"
    wanted = Permission(group, resource, verb, scope)
    where = f"in namespace {namespace}" if namespace else "(cluster-wide)"
    sa = _SERVICE_ACCOUNT.match(user)
    if sa is None:
        binding = f"a Role in namespace {namespace}" if namespace else "a ClusterRole"
        return (f"the user {user} may not {verb} {resource} {where}: grant {wanted.rule()} with {binding} bound to "
                f"{user} ({ROLE_PATH} grants what the executor needs to a service account)")
    sa_namespace, sa_name = sa.group("namespace", "name")
    who = f"the service account {user}"
    if not namespace:
        target = f"ClusterRole {cluster_role_name(sa_namespace, sa_name)}"
    elif namespace == sa_namespace:
        target = f"Role {role_name(sa_name)}"
    else:  # the Role the provisioning role creates is in the account's own namespace
        return (f"{who} may not {verb} {resource} {where}: its Role {role_name(sa_name)} is in namespace "
                f"{sa_namespace} ({ROLE_PATH}); pass --namespace {sa_namespace}, or add {wanted.rule()} to a Role "
                f"in namespace {namespace} bound to it")
    return f"{who} may not {verb} {resource} {where}: add {wanted.rule()} to {target} ({ROLE_PATH})"


def forbidden_message(exc: BaseException) -> str | None:
    """`explain_forbidden` for an API error: a 403 whose Status says RBAC denied the request; else None."""
    if getattr(exc, "status", None) != 403:
        return None
    try:
        status: Any = json.loads(getattr(exc, "body", None) or "{}")
    except (TypeError, ValueError):
        return None
    message = status.get("message") if isinstance(status, dict) else None
    return explain_forbidden(message) if isinstance(message, str) else None


if __name__ == "__main__":  # the rules the provisioning role must grant, for the Molecule verify
    print(json.dumps({"role": rules("namespaced"), "cluster_role": rules("cluster")}))


def delete_each(steps: Iterable[tuple[str, Callable[[], Any]]], say: Callable[[str], None]) -> None:
    """Run each (what, delete call) of a cleanup; never raises. Already gone (404) is fine; anything else is said in
    one line with the fix (delete it with kubectl), a refusal with the permission it lacks."""
    from kubernetes.client.exceptions import ApiException

    for what, call in steps:
        try:
            call()
        except ApiException as exc:
            if exc.status != 404:
                why = forbidden_message(exc) or f"could not delete {what} ({exc.status} {exc.reason})"
                say(f"{why}; delete it with kubectl")
        except Exception as exc:
            say(f"could not delete {what} ({' '.join(str(exc).split())[:200]}); delete it with kubectl")
