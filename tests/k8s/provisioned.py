"""The provisioning role's namespace objects (roles/benchmark_namespace/templates/namespace.yaml.j2) rendered as
Ansible would with the role's defaults, applied to a stand-in API server through the API, and a service account's
token for an in-cluster run under them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import yaml

from bench.executors.k8s_rbac import PERMISSIONS, Permission

from .standin_apiserver import StandInAPIServer
from .standin_rbac import HARNESS_USER, ApiRequest

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "benchmark_namespace"
SERVICE_ACCOUNT = "bench-runner"  # the role's default benchmark_namespace_service_account
HARNESS_TOKEN = "standin-harness-token"


def role_variables(**inventory: Any) -> dict[str, Any]:
    """The role's defaults/main.yml resolved in order over `inventory` (e.g. kcloud_benchmark_namespace)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["lookup"] = lambda *args, **kwargs: ""  # the HF token from the controller's environment: none here
    values: dict[str, Any] = {"ansible_managed": "Ansible managed", **inventory}
    for key, value in (yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()) or {}).items():
        if key not in values:
            values[key] = env.from_string(value).render(values) if isinstance(value, str) else value
    return values


def render_namespace_objects(**inventory: Any) -> list[dict[str, Any]]:
    """namespace.yaml.j2 rendered with the role's variables: the objects `kubectl apply` gets."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    text = env.from_string((ROLE / "templates" / "namespace.yaml.j2").read_text()).render(role_variables(**inventory))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def without(objects: list[dict[str, Any]], group: str, resource: str, verb: str) -> list[dict[str, Any]]:
    """The objects with one verb taken out of the (Cluster)Role rule that grants it (the rule dropped if empty)."""
    found = False
    for obj in objects:
        if obj["kind"] not in ("Role", "ClusterRole"):
            continue
        kept = []
        for rule in obj["rules"]:
            if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
                found = True
                rule = {**rule, "verbs": [v for v in rule["verbs"] if v != verb]}
            if rule["verbs"]:
                kept.append(rule)
        obj["rules"] = kept
    assert found, f"no rule grants {verb} {group}/{resource}"
    return objects


def harness_client(server: StandInAPIServer) -> Any:
    """A `kubernetes` ApiClient as the test harness (an admin, like kubectl with admin.conf); its requests are not
    the executor's."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = server.url
    if server.ca_cert:
        configuration.ssl_ca_cert = str(server.ca_cert)
    token = server.rbac.add_admin_token(HARNESS_TOKEN, HARNESS_USER)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def apply(server: StandInAPIServer, objects: list[dict[str, Any]]) -> None:
    """Create the objects through the API, as `kubectl apply` does on a new cluster."""
    from kubernetes import utils

    api = harness_client(server)
    for obj in objects:
        utils.create_from_dict(api, obj)


def provision(server: StandInAPIServer, namespace: str,
              edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
              token: str | None = None) -> str:
    """Apply the role's namespace objects for `namespace` (through `edit` first, if given) and return the token of
    its service account."""
    objects = render_namespace_objects(kcloud_benchmark_namespace=namespace)
    apply(server, edit(objects) if edit else objects)
    return server.rbac.service_account_token(namespace, SERVICE_ACCOUNT, token)


def executor_requests(server: StandInAPIServer) -> list[ApiRequest]:
    """Every resource request anyone but the test harness made (the executor's, with whatever credentials)."""
    return server.rbac.by(lambda user: user != HARNESS_USER)


def unlisted_requests(server: StandInAPIServer) -> set[Permission]:
    """What the executor asked the API server for that bench/executors/k8s_rbac.py's PERMISSIONS does not list."""
    asked = {Permission(r.group, r.resource, r.verb, "namespaced" if r.namespace else "cluster")
             for r in executor_requests(server)}
    return asked - set(PERMISSIONS)


def assert_requests_listed(server: StandInAPIServer) -> None:
    unlisted = unlisted_requests(server)
    assert not unlisted, (
        "the executor made API requests that bench/executors/k8s_rbac.py's PERMISSIONS does not list (add them to "
        "_GRANTS and to the Role/ClusterRole in roles/benchmark_namespace/templates/namespace.yaml.j2): "
        + ", ".join(sorted(f"{p.verb} {p.group or 'core'}/{p.resource} ({p.scope})" for p in unlisted)))
