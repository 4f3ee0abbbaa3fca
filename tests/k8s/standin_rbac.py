"""TEST STAND-IN: authentication and RBAC authorization for the stand-in API server (standin_apiserver.py).

What kube-apiserver does with `--authorization-mode=RBAC`, for the parts the executor meets:
- Authentication by bearer token: the kubeconfig's admin token (user kubernetes-admin, group system:masters, as
  kubeadm's admin.conf) and harness tokens are allowed everything; a service account's token maps to
  system:serviceaccount:<namespace>:<name> with groups system:serviceaccounts, system:serviceaccounts:<namespace>
  and system:authenticated, and only while that ServiceAccount exists. Any other token (or none) gets 401.
- Request attributes from the URL as the API server's RequestInfo resolves them: verb (get, list, watch, create,
  update, patch, delete, deletecollection), API group, resource with subresource ("pods/log"), namespace, name.
- Authorization from the Roles, RoleBindings, ClusterRoles and ClusterRoleBindings in the store (created through the
  API like any object), with "*" in apiGroups, resources and verbs, and resourceNames. Non-resource paths such as
  /version are open to every authenticated user (the default ClusterRole system:public-info-viewer).
- A refusal is kube-apiserver's 403 Status: reason Forbidden, details {name, group, kind: resource} and the message
  `<resource>[.<group>] ["<name>"] is forbidden: User "<user>" cannot <verb> resource "<resource>" in API group
  "<group>" in the namespace "<ns>"` (or `at the cluster scope`).

Every request is recorded as an ApiRequest (who, verb, group, resource, namespace) so that a test can hold what the
executor asked for against the permission list it documents.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ADMIN_USER = "kubernetes-admin"
HARNESS_USER = "standin-harness"  # the test itself, applying manifests as kubectl would: never counted as executor's
MASTERS = "system:masters"

# /api/v1/... (core) or /apis/<group>/<version>/..., optional namespace, resource, name, subresource
_RESOURCE_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class ApiRequest:
    """A request's attributes, as kube-apiserver's authorizer sees them."""

    user: str
    verb: str
    group: str
    resource: str  # "pods/log" for a subresource
    namespace: str  # "" for a cluster-scoped resource
    name: str = ""


@dataclass
class Identity:
    user: str
    groups: tuple[str, ...] = ()
    service_account: tuple[str, str] | None = None  # (namespace, name)


def request_attributes(user: str, method: str, path: str, query: dict[str, str]) -> ApiRequest | None:
    """The resource request a method and path are, or None for a non-resource path (/version, /healthz, /apis)."""
    m = _RESOURCE_PATH.match(path.rstrip("/"))
    if not m:
        return None
    group = "" if m.group("core") else m.group("group")
    ns, resource, name, sub = m.group("ns") or "", m.group("resource"), m.group("name") or "", m.group("sub")
    if resource == "namespaces" and name:  # /api/v1/namespaces/<name>: the Namespace itself
        ns = name
    if method == "GET":
        verb = "watch" if query.get("watch") in ("true", "1") else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return ApiRequest(user, verb, group, f"{resource}/{sub}" if sub else resource, ns, name)


def forbidden_status(request: ApiRequest) -> dict[str, Any]:
    """kube-apiserver's 403 Status for a request RBAC denied (responsewriters.ForbiddenStatusError)."""
    base = request.resource.split("/")[0]
    qualified = f"{base}.{request.group}" if request.group else base
    subject = f'{qualified} "{request.name}"' if request.name else qualified
    where = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    message = (f'{subject} is forbidden: User "{request.user}" cannot {request.verb} resource "{request.resource}" '
               f'in API group "{request.group}" {where}')
    details: dict[str, str] = {"kind": base}
    if request.name:
        details["name"] = request.name
    if request.group:
        details["group"] = request.group  # omitempty, as in the real StatusDetails
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Forbidden", "details": details, "code": 403}


def unauthorized_status() -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
            "reason": "Unauthorized", "code": 401}


def _rule_allows(rule: dict[str, Any], request: ApiRequest) -> bool:
    def has(key: str, value: str) -> bool:
        values = rule.get(key) or []
        return "*" in values or value in values

    if not (has("verbs", request.verb) and has("apiGroups", request.group) and has("resources", request.resource)):
        return False
    names = rule.get("resourceNames") or []
    return not names or request.name in names


@dataclass
class Authorizer:
    """Tokens → identities, and RBAC over the objects `get(plural, namespace, name)` and `items(plural)` read from
    the stand-in's store."""

    get: Callable[[str, str, str], dict[str, Any] | None]
    items: Callable[[str], list[dict[str, Any]]]
    tokens: dict[str, Identity] = field(default_factory=dict)
    requests: list[ApiRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_admin_token(self, token: str, user: str = ADMIN_USER) -> str:
        self.tokens[token] = Identity(user, (MASTERS, "system:authenticated"))
        return token

    def service_account_token(self, namespace: str, name: str, token: str | None = None) -> str:
        """A token for the ServiceAccount namespace/name (what the kubelet mounts in its pods); valid while the
        ServiceAccount exists."""
        token = token or f"standin-sa-{namespace}-{name}-{secrets.token_hex(8)}"
        self.tokens[token] = Identity(
            f"system:serviceaccount:{namespace}:{name}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
            (namespace, name))
        return token

    def authenticate(self, authorization: str) -> Identity | None:
        scheme, _, token = authorization.partition(" ")
        identity = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if identity is None:
            return None
        if identity.service_account and self.get("serviceaccounts", *identity.service_account) is None:
            return None  # the account was deleted: its tokens no longer authenticate
        return identity

    def admit(self, method: str, path: str, query: dict[str, str],
              authorization: str) -> tuple[int, dict[str, Any]] | None:
        """None when the request may proceed, else the (code, Status) to answer with. Records the request."""
        identity = self.authenticate(authorization)
        if identity is None:
            return 401, unauthorized_status()
        request = request_attributes(identity.user, method, path, query)
        if request is None:  # non-resource URL: discovery and /version are open to the authenticated
            return None
        with self._lock:
            self.requests.append(request)
        if MASTERS in identity.groups or self.allows(identity, request):
            return None
        return 403, forbidden_status(request)

    def allows(self, identity: Identity, request: ApiRequest) -> bool:
        bindings = [("ClusterRoleBinding", b) for b in self.items("clusterrolebindings")]
        if request.namespace:
            bindings += [("RoleBinding", b) for b in self.items("rolebindings")
                         if b["metadata"].get("namespace") == request.namespace]
        for kind, binding in bindings:
            if not any(self._subject_matches(s, identity, binding) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "Role" and kind == "RoleBinding":
                role = self.get("roles", binding["metadata"]["namespace"], ref.get("name", ""))
            elif ref.get("kind") == "ClusterRole":
                role = self.get("clusterroles", "", ref.get("name", ""))
            else:
                role = None
            if role and any(_rule_allows(rule, request) for rule in role.get("rules") or []):
                return True
        return False

    @staticmethod
    def _subject_matches(subject: dict[str, Any], identity: Identity, binding: dict[str, Any]) -> bool:
        kind = subject.get("kind")
        if kind == "ServiceAccount":
            namespace = subject.get("namespace") or binding["metadata"].get("namespace", "")
            return identity.service_account == (namespace, subject.get("name"))
        if kind == "User":
            return subject.get("name") == identity.user
        if kind == "Group":
            return subject.get("name") in identity.groups
        return False

    def by(self, predicate: Callable[[str], bool]) -> list[ApiRequest]:
        with self._lock:
            return [r for r in self.requests if predicate(r.user)]
