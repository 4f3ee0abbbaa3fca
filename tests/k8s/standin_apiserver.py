"""TEST STAND-IN for a Kubernetes API server (there is no cluster on CI machines). Product code never imports this.

It speaks the real REST and watch protocol to the real `kubernetes` Python client over loopback HTTP — or HTTPS with
a throwaway CA (`tls=True`, for the in-cluster configuration, which insists on https): JSON objects with
resourceVersion, list + watch (chunked JSON lines, `timeoutSeconds`, label and field selectors; a bounded window of
`watch_window` events, and `compact()`: a watch from an older version gets HTTP 200 and one ERROR event with a 410
Expired Status, as the watch cache sends it; BOOKMARK events with `allowWatchBookmarks=true`),
create/read/replace/delete, `propagationPolicy` (a Job's default: Orphan) and `gracePeriodSeconds` on deletion, and
pod logs with `follow=true`.

Authentication and RBAC as kube-apiserver's (standin_rbac.py): the kubeconfig's token is the admin's, a service
account's token (`rbac.service_account_token`) may do what its Roles and ClusterRoles grant, anything else gets the
real 401/403 Status; every request is recorded with who asked (`rbac.requests`).

It stores Jobs, Pods, ConfigMaps, Secrets, Nodes and Events (and Namespaces, ServiceAccounts and the RBAC objects),
and plays the parts of the control plane the executor depends on:
- Admission: a pod whose runtimeClassName names no RuntimeClass (`runtime_classes` exist) or whose
  serviceAccountName names no ServiceAccount is refused in the plugins' words; every pod gets the
  DefaultTolerationSeconds tolerations (not-ready / unreachable, 300 s).
- Job controller: one pod per Job from its template (its labels and annotations, plus job-name, controller-uid); a
  refused pod is a FailedCreate Warning Event on the Job (`Error creating: pods "NAME-" is forbidden: ...`), retried
  with backoff;
  Job status and conditions: Complete; a pod Failed, deleted or gone counts as failed (backoffLimit), and past the
  limit or activeDeadlineSeconds the Job gets FailureTarget (BackoffLimitExceeded / DeadlineExceeded), its running
  pods are deleted gracefully, and Failed follows once they have ended.
- Scheduler: nodeSelector, NoSchedule and NoExecute taints vs tolerations, allocatable nvidia.com/gpu minus what
  running pods use; an unschedulable pod gets PodScheduled=False/Unschedulable with a message in the real scheduler's
  words. Taint manager: a pod on a node with a NoExecute taint it does not tolerate (or past its tolerationSeconds)
  gets DisruptionTarget=DeletionByTaintManager and is deleted.
- Graceful deletion: deletionTimestamp and deletionGracePeriodSeconds, SIGTERM, SIGKILL after the grace period, the
  pod Failed (exit 143 / 137), then gone; grace 0 removes it at once.
- Kubelet: images whose name contains an entry of `bad_images` fail with ErrImagePull then ImagePullBackOff; other
  containers run their command as a local process — mountPaths mapped to temp dirs (configMap files written out,
  emptyDir empty, hostPath the host's own path: a file or a directory, its `type` checked), the image's `python3`
  mapped to the test's Python, env from values, the downward API and Secrets — and a memory limit enforced like the
  OOM killer (RSS of the process tree over the limit → SIGKILL, reason OOMKilled, exit code 137).
- Deployments (apps/v1, for a serving group's vLLM server): one pod from the template, named
  `<deployment>-<template hash>-<random>` with an ownerReference to the Deployment (no ReplicaSet object: the
  stand-in's simplification), replaced when it goes; status replicas/readyReplicas/availableReplicas and the
  Available/Progressing conditions (Progressing=False ProgressDeadlineExceeded past progressDeadlineSeconds); a pod
  admission refuses is a ReplicaFailure condition; deleting the Deployment deletes its pods (Foreground waits).
  Services (v1) are stored with a clusterIP.
- Kubelet for restartPolicy Always: a container that exits is restarted after the CrashLoopBackOff back-off (10 s
  doubling), with restartCount and lastState; HTTP GET startup/readiness/liveness probes run against the pod's
  process and set the container's ready flag and the pod's Ready condition; a failed probe is an Unhealthy event, a
  startup or liveness probe failed `failureThreshold` times kills the container (event Killing `Container server
  failed startup probe, will be restarted`). `time_scale` shrinks probe periods, back-offs and progress deadlines.
- STAND-IN SUBSTITUTION for vLLM: a container whose command runs `python -m vllm.entrypoints.openai.api_server` runs
  `python -m tests.standins.fake_openai` with the same arguments (plus `fake_server_args`), on a free local port in
  place of `--port 8000`. STAND-IN for cluster DNS + kube-proxy: every pod started while Services exist gets
  tests/k8s/standin_dns/ (a sitecustomize.py) on its PYTHONPATH and STANDIN_CLUSTER_DNS, the map from
  `<svc>.<ns>.svc.cluster.local:<port>` (and the shorter forms) to the local port of a pod the Service selects.
- Faults on demand: `evict_pod` (the kubelet evicting under node pressure), `taint_node` (`kubectl taint`),
  `compact()` and `bump()` (a busy cluster's writes), and `lose_node` (a node going dark, or being removed): the pod
  statuses, node conditions and taints, and deletion behaviour a real cluster shows — pods on a lost node stay
  Terminating unless force-deleted, and a Job deleted in the foreground waits for them.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .standin_rbac import Authorizer

GPU = "nvidia.com/gpu"
REPO = Path(__file__).resolve().parents[2]
STANDIN_DNS = Path(__file__).resolve().parent / "standin_dns"  # sitecustomize.py: cluster DNS for pod processes
# What the DefaultTolerationSeconds admission plugin adds to every pod: a node that is not ready or unreachable keeps
# its pods for 5 minutes before the taint manager evicts them.
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
]
KINDS = {  # plural -> (apiVersion, kind, namespaced)
    "pods": ("v1", "Pod", True),
    "configmaps": ("v1", "ConfigMap", True),
    "secrets": ("v1", "Secret", True),
    "events": ("v1", "Event", True),
    "nodes": ("v1", "Node", False),
    "jobs": ("batch/v1", "Job", True),
    "deployments": ("apps/v1", "Deployment", True),
    "services": ("v1", "Service", True),
    "serviceaccounts": ("v1", "ServiceAccount", True),
    "runtimeclasses": ("node.k8s.io/v1", "RuntimeClass", False),
    "namespaces": ("v1", "Namespace", False),
    "roles": ("rbac.authorization.k8s.io/v1", "Role", True),  # RBAC: evaluated by standin_rbac.Authorizer
    "rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding", True),
    "clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole", False),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False),
}
_ROUTE = re.compile(
    r"^/(?:api/v1|apis/batch/v1|apis/apps/v1|apis/node\.k8s\.io/v1|apis/rbac\.authorization\.k8s\.io/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)"
    r"(?:/(?P<name>[^/]+))?"
    r"(?:/(?P<sub>log|status))?$"
)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity_bytes(text: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    m = re.match(r"^([0-9.]+)([A-Za-z]*)$", str(text))
    if not m:
        return 0
    return int(float(m.group(1)) * units.get(m.group(2), 1))


@dataclass
class FakeNode:
    name: str
    gpus: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name, **self.labels}},
            "spec": {"taints": list(self.taints)} if self.taints else {},
            "status": {
                "allocatable": {GPU: str(self.gpus), "cpu": "64", "memory": "512Gi"},
                "capacity": {GPU: str(self.gpus), "cpu": "64", "memory": "512Gi"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "nodeInfo": {"kubeletVersion": "v1.33.2", "containerRuntimeVersion": "containerd://1.7.27"},
            },
        }


@dataclass
class PodRun:
    """When a pod's process ran, on the test machine's monotonic clock (for overlap assertions)."""

    namespace: str
    pod: str
    node: str
    job: str
    started: float
    ended: float | None = None


class _Container:
    """A running 'container': the local process of one pod."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, root: Path, memory_limit: int,
                 run: PodRun) -> None:
        self.proc = proc
        self.log_path = log_path
        self.root = root
        self.memory_limit = memory_limit
        self.run = run
        self.oom_killed = False
        self.finished_at: str | None = None
        # restartPolicy Always (a Deployment's pod): how to start it again, and the kubelet's bookkeeping
        self.launch: tuple[list[str], dict[str, str], str] | None = None  # (command, env, cwd)
        self.port: int | None = None  # the local port of a substituted vLLM server (kube-proxy's target)
        self.restart_at: float | None = None  # CrashLoopBackOff: when the kubelet starts it again
        self.restarts = 0
        self.previous_log: Path | None = None
        self.probe_kill: str | None = None  # "startup" / "liveness": the kubelet killed it for that probe
        self.generation = 0  # which run of the container a probe thread belongs to


class StandInAPIServer:
    """A loopback Kubernetes API server stand-in; `start()` it, hand `kubeconfig(path)` to the client, `stop()` it."""

    def __init__(self, nodes: list[FakeNode], python: str = sys.executable, version: str = "v1.33.2",
                 bad_images: tuple[str, ...] = ("does-not-exist",), tick_s: float = 0.05, tls: bool = False,
                 runtime_classes: tuple[str, ...] = ("nvidia", "xen-gpu"), watch_window: int = 10000,
                 bookmark_s: float = 1.0, time_scale: float = 1.0,
                 fake_server_args: tuple[str, ...] = ()) -> None:
        self.python = python
        self.time_scale = time_scale  # probe periods, CrashLoopBackOff back-off, progress deadlines × this
        self.fake_server_args = list(fake_server_args)  # appended to the substituted vLLM server's command line
        self.version = version
        self.bad_images = bad_images
        self.tick_s = tick_s
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 100
        self.store: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name) -> object
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.compacted_rv = 0  # watches from an older resourceVersion get 410 Expired
        self.watch_window = watch_window  # events the watch cache keeps; older ones are compacted away
        self.bookmark_s = bookmark_s  # how often a watch that asked for bookmarks gets one
        self.expired_watches = 0  # 410 Expired answers sent (for assertions)
        self.terminating: dict[tuple[str, str], float] = {}  # pod -> monotonic time its grace period ends
        self.failed_creates: dict[tuple[str, str], tuple[int, float]] = {}  # Job -> (attempts, next attempt)
        self.containers: dict[tuple[str, str], _Container] = {}
        self.pull_started: dict[tuple[str, str], float] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) for assertions
        self.deletions: list[tuple[str, str, str, str]] = []  # (plural, namespace, name, propagationPolicy given)
        self.bearer_tokens: set[str] = set()  # the credentials clients presented
        # authentication and RBAC (standin_rbac.py); the kubeconfig's token is the admin's, allowed everything
        self.rbac = Authorizer(self.get, self.items)
        self.rbac.add_admin_token("standin-token")
        self.runs: list[PodRun] = []  # every pod process, in start order
        self.lost_nodes: set[str] = set()
        self._tmp = Path(tempfile.mkdtemp(prefix="standin-k8s-"))
        self._shim = self._tmp / "image-bin"
        self._shim.mkdir()
        shim = self._shim / "python3"
        shim.write_text(f'#!/bin/sh\nexec {python} "$@"\n')
        shim.chmod(0o755)
        for node in nodes:
            self._put("nodes", "", node.manifest(), "ADDED")
        for handler in runtime_classes:  # what the runtime class playbook creates (RuntimeClass name = handler)
            self._put("runtimeclasses", "", {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                             "metadata": {"name": handler}, "handler": handler}, "ADDED")
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]  # resets
        self.ca_cert: Path | None = None
        if tls:
            self.ca_cert, cert, key = _throwaway_pki(self._tmp / "pki")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    # ---- lifecycle ----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_cert else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> StandInAPIServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True, name="standin-http").start()
        threading.Thread(target=self._control_loop, daemon=True, name="standin-controllers").start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self.lock:
            for key in list(self.containers):
                self._kill(key)
            self.changed.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def kubeconfig(self, path: Path, context: str = "standin") -> Path:
        cluster: dict[str, str] = {"server": self.url}
        if self.ca_cert:
            cluster["certificate-authority"] = str(self.ca_cert)
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": "standin", "cluster": cluster}],
            "users": [{"name": "standin", "user": {"token": "standin-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "standin", "user": "standin"}}],
        }))
        return path

    # ---- store --------------------------------------------------------------------------------------------

    def _put(self, plural: str, ns: str, obj: dict[str, Any], event: str) -> dict[str, Any]:
        with self.lock:
            self.rv += 1
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(self.rv)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_iso())
            if ns:
                meta["namespace"] = ns
            if event == "DELETED":
                self.store.pop((plural, ns, meta["name"]), None)
            else:
                self.store[(plural, ns, meta["name"])] = obj
            self.history.append((self.rv, plural, event, copy.deepcopy(obj)))
            if len(self.history) > self.watch_window:  # the watch cache's window: older versions expire
                self.compacted_rv = max(self.compacted_rv, self.history.pop(0)[0])
            self.changed.notify_all()
            return obj

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.store.get((plural, ns, name))
            return copy.deepcopy(found) if found else None

    def items(self, plural: str, ns: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(o) for (p, n, _), o in self.store.items() if p == plural and ns in (None, n)]

    def compact(self) -> None:
        """Compact up to the current resourceVersion (as etcd compaction does): a watch that starts or resumes from
        an older version gets 410 Expired. Watches already open keep streaming, as the watch cache's do; `history`
        stays readable for assertions."""
        with self.lock:
            self.compacted_rv = self.rv

    def bump(self) -> None:
        """Someone else's write (the cluster is busy): the resourceVersion moves on."""
        with self.lock:
            self._put("events", "kube-system", {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": "bystander"}, "reason": "Busy",
                "involvedObject": {"kind": "Node", "name": "bystander"}, "message": str(self.rv), "type": "Normal",
            }, "MODIFIED")

    def add_running_pod(self, ns: str, name: str, node: str, gpus: int) -> None:
        """A pod of someone else holding GPUs on `node` (for 'Insufficient nvidia.com/gpu')."""
        self._put("pods", ns, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "other"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "other",
                                                       "resources": {"limits": {GPU: str(gpus)}}}]},
            "status": {"phase": "Running"},
        }, "ADDED")

    # ---- HTTP ---------------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}") if length else {}

            def _send(self, code: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _start_chunked(self, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def _end_chunked(self) -> None:
                with contextlib.suppress(OSError):
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()

            def handle_one(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                server.requests.append((method, url.path))
                auth = self.headers.get("Authorization") or ""
                if auth.lower().startswith("bearer "):
                    server.bearer_tokens.add(auth[len("bearer "):])
                refused = server.rbac.admit(method, url.path, query, auth)
                if refused is not None:
                    self._body()  # read what was sent, so that the connection can carry the answer
                    return self._send(*refused)
                try:
                    if url.path.rstrip("/") == "/version":
                        major, minor = server.version.lstrip("v").split(".")[:2]
                        return self._send(200, {
                            "major": major, "minor": minor, "gitVersion": server.version, "platform": "linux/amd64",
                            "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                            "goVersion": "go1.24.4", "compiler": "gc"})
                    m = _ROUTE.match(url.path)
                    if not m or m.group("plural") not in KINDS:
                        return self._send(404, _status(404, "NotFound", f"no route {url.path}"))
                    server.route(self, method, m.group("plural"), m.group("ns") or "", m.group("name"),
                                 m.group("sub"), query)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self.handle_one("GET")

            def do_POST(self) -> None:
                self.handle_one("POST")

            def do_PUT(self) -> None:
                self.handle_one("PUT")

            def do_DELETE(self) -> None:
                self.handle_one("DELETE")

        return Handler

    def route(self, h: Any, method: str, plural: str, ns: str, name: str | None, sub: str | None,
              query: dict[str, str]) -> None:
        api_version, kind, _ = KINDS[plural]
        if method == "GET" and name is None:
            if query.get("watch") in ("true", "1"):
                return self._watch(h, plural, ns, query)
            with self.lock:
                items = [o for o in self.items(plural, ns or None) if _matches(o, query.get("labelSelector"))
                         and _matches_fields(o, query.get("fieldSelector"))]
                return h._send(200, {"apiVersion": api_version, "kind": f"{kind}List",
                                     "metadata": {"resourceVersion": str(self.rv)}, "items": items})
        if method == "GET" and sub == "log":
            return self._log(h, ns, name, query)
        if method == "GET":
            found = self.get(plural, ns, name)
            return h._send(200, found) if found else h._send(404, _status(404, "NotFound",
                                                                              f'{plural} "{name}" not found'))
        if method == "POST":
            body = h._body()
            body.setdefault("apiVersion", api_version)
            body.setdefault("kind", kind)
            with self.lock:
                if self.get(plural, ns, body["metadata"]["name"]):
                    return h._send(409, _status(409, "AlreadyExists",
                                                f'{plural} "{body["metadata"]["name"]}" already exists'))
                if plural in ("jobs", "deployments"):
                    body.setdefault("status", {})
                if plural == "services":
                    body.setdefault("spec", {}).setdefault("clusterIP", f"10.96.{len(self.items('services')) % 250}.10")
                return h._send(201, self._put(plural, ns, body, "ADDED"))
        if method == "PUT":
            body = h._body()
            with self.lock:
                if not self.get(plural, ns, name):
                    return h._send(404, _status(404, "NotFound", f'{plural} "{name}" not found'))
                body.setdefault("apiVersion", api_version)
                body.setdefault("kind", kind)
                return h._send(200, self._put(plural, ns, body, "MODIFIED"))
        if method == "DELETE":
            body = h._body()
            grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
            grace = None if grace is None else int(grace)
            # batch/v1 Jobs orphan their pods unless told otherwise (kubectl sends Background; the API default is
            # Orphan, kept for compatibility); other kinds default to Background
            given = body.get("propagationPolicy") or query.get("propagationPolicy") or ""
            self.deletions.append((plural, ns, name or "", given))
            policy = given or ("Orphan" if plural == "jobs" else "Background")
            with self.lock:
                found = self.get(plural, ns, name)
                if not found:
                    return h._send(404, _status(404, "NotFound", f'{plural} "{name}" not found'))
                if plural == "pods":
                    self.delete_pod(ns, name, grace)
                    return h._send(200, found)
                if plural == "deployments" and policy != "Orphan":  # the garbage collector deletes its pods
                    for pod in self._owned_pods(ns, "Deployment", name):
                        self.delete_pod(ns, pod["metadata"]["name"], None)
                    if policy == "Foreground" and self._owned_pods(ns, "Deployment", name):
                        found["metadata"].update(deletionTimestamp=now_iso(), finalizers=["foregroundDeletion"])
                        self._put(plural, ns, found, "MODIFIED")
                        return h._send(200, found)
                if plural == "jobs" and policy == "Orphan":  # the garbage collector drops the owner reference
                    for pod in self._job_pods(ns, name):
                        pod["metadata"].pop("ownerReferences", None)
                        self._put("pods", ns, pod, "MODIFIED")
                if plural == "jobs" and policy != "Orphan":
                    for pod in self._job_pods(ns, name):
                        self.delete_pod(ns, pod["metadata"]["name"], grace)
                    if policy == "Foreground" and self._job_pods(ns, name):  # waits for its Terminating pods
                        found["metadata"].update(deletionTimestamp=now_iso(), finalizers=["foregroundDeletion"])
                        self._put(plural, ns, found, "MODIFIED")
                        return h._send(200, found)
                self._put(plural, ns, found, "DELETED")
                return h._send(200, _status(200, "", "deleted", success=True))
        return h._send(405, _status(405, "MethodNotAllowed", method))

    def _watch(self, h: Any, plural: str, ns: str, query: dict[str, str]) -> None:
        """A watch as the watch cache serves it: HTTP 200 and one JSON event a line. From a version older than the
        cache's window the only event is ERROR with a 410 Expired Status (then the stream ends); with
        allowWatchBookmarks=true a BOOKMARK (just the current resourceVersion) every `bookmark_s` and before the
        timeout ends."""
        since = int(query.get("resourceVersion") or 0)
        timeout = float(query.get("timeoutSeconds") or 1800)
        selector, fields = query.get("labelSelector"), query.get("fieldSelector")
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        api_version, kind, _ = KINDS[plural]
        h._start_chunked("application/json")
        end = time.monotonic() + timeout
        next_bookmark, last_sent = time.monotonic() + self.bookmark_s, False

        def send(typ: str, obj: dict[str, Any]) -> None:
            h._chunk((json.dumps({"type": typ, "object": obj}) + "\n").encode())

        def bookmark() -> None:
            send("BOOKMARK", {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(since)}})

        try:
            with self.lock:
                if since and since < self.compacted_rv:
                    self.expired_watches += 1
                    return send("ERROR", _status(410, "Expired",
                                                 f"too old resource version: {since} ({self.compacted_rv})"))
                if not since:  # no version: the current state as ADDED events first
                    for obj in self.items(plural, ns or None):
                        if _matches(obj, selector) and _matches_fields(obj, fields):
                            send("ADDED", obj)
                    since = self.rv
            while not self._stop.is_set():
                with self.lock:
                    if self.history and since < self.history[0][0] - 1:  # fell out of the window while open
                        self.expired_watches += 1
                        return send("ERROR", _status(410, "Expired",
                                                     f"too old resource version: {since} ({self.history[0][0] - 1})"))
                    pending = [(rv, t, o) for rv, p, t, o in self.history
                               if rv > since and p == plural and (not ns or o["metadata"].get("namespace") == ns)]
                    if not pending:
                        now = time.monotonic()
                        if bookmarks and (now >= next_bookmark or (not last_sent and end - now <= 0.2)):
                            last_sent |= end - now <= 0.2
                            since = self.rv  # nothing this watch selects changed up to here
                            next_bookmark = now + self.bookmark_s
                            bookmark()
                            continue
                        left = end - now
                        if left <= 0:
                            return
                        waits = [left, 0.5]
                        if bookmarks:
                            waits += [next_bookmark - now] + ([] if last_sent else [left - 0.2])
                        self.changed.wait(timeout=max(min(waits), 0.01))
                        continue
                for rv, typ, obj in pending:
                    since = rv
                    if _matches(obj, selector) and _matches_fields(obj, fields):
                        send(typ, obj)
        finally:
            h._end_chunked()

    def _log(self, h: Any, ns: str, name: str, query: dict[str, str]) -> None:
        with self.lock:
            pod = self.get("pods", ns, name)
            container = self.containers.get((ns, name))
        if pod is None:
            return h._send(404, _status(404, "NotFound", f'pods "{name}" not found'))
        if container is None:
            return h._send(400, _status(400, "BadRequest",
                                        f'container "bench" in pod "{name}" is waiting to start: ContainerCreating'))
        if query.get("previous") in ("true", "1") or query.get("tailLines"):  # not followed: the text at once
            path = container.previous_log if query.get("previous") in ("true", "1") else container.log_path
            if path is None:
                return h._send(400, _status(400, "BadRequest",
                                            f'previous terminated container in pod "{name}" not found'))
            lines = path.read_bytes().splitlines(keepends=True)
            tail = int(query.get("tailLines") or 0)
            data = b"".join(lines[-tail:] if tail else lines)
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return None
        follow = query.get("follow") in ("true", "1")
        h._start_chunked("text/plain")
        try:
            with open(container.log_path, "rb") as fh:
                while True:
                    data = fh.read(65536)
                    if data:
                        h._chunk(data)
                        continue
                    if not follow or container.proc.poll() is not None or self._stop.is_set():
                        rest = fh.read()
                        if rest:
                            h._chunk(rest)
                        return
                    time.sleep(0.05)
        finally:
            h._end_chunked()

    # ---- controllers --------------------------------------------------------------------------------------

    def _control_loop(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                try:
                    self._jobs()
                    self._deployments()
                    self._pods()
                except Exception as exc:  # a stand-in bug must be visible, not a hang
                    print(f"standin controller error: {exc!r}", file=sys.stderr)
            time.sleep(self.tick_s)

    def _owned_pods(self, ns: str, kind: str, name: str) -> list[dict[str, Any]]:
        return [p for p in self.items("pods", ns) if any(
            r.get("kind") == kind and r.get("name") == name for r in p["metadata"].get("ownerReferences") or [])]

    def _deployments(self) -> None:
        """The Deployment (and ReplicaSet) controller for one replica: a pod from the template when none is alive,
        the status counts and conditions, ProgressDeadlineExceeded when no pod got available in time."""
        for deployment in self.items("deployments"):
            ns, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
            pods = self._owned_pods(ns, "Deployment", name)
            if deployment["metadata"].get("deletionTimestamp"):  # foreground deletion: gone once its pods are
                if not pods:
                    self._put("deployments", ns, deployment, "DELETED")
                continue
            alive = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            annotations = deployment["metadata"].setdefault("annotations", {})
            started = float(annotations.setdefault("standin/started", str(time.monotonic())))
            conditions: list[dict[str, Any]] = []
            refused = None
            if not alive:
                refused = self._create_deployment_pod(deployment)
            ready = [p for p in alive if any(c.get("type") == "Ready" and c.get("status") == "True"
                                             for c in p["status"].get("conditions") or [])]
            deadline = float(deployment["spec"].get("progressDeadlineSeconds", 600)) * self.time_scale
            if ready:
                annotations["standin/progressed"] = "true"
                conditions.append({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                                   "message": "Deployment has minimum availability."})
                conditions.append({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                   "message": f'ReplicaSet "{name}" has successfully progressed.'})
            else:
                conditions.append({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                                   "message": "Deployment does not have minimum availability."})
                if annotations.get("standin/progressed") != "true" and time.monotonic() - started > deadline:
                    conditions.append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                       "message": f'ReplicaSet "{name}" has timed out progressing.'})
                else:
                    conditions.append({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                       "message": f'ReplicaSet "{name}" is progressing.'})
            if refused:
                conditions.append({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                   "message": refused})
            status = {"observedGeneration": 1, "replicas": len(alive), "readyReplicas": len(ready),
                      "availableReplicas": len(ready), "updatedReplicas": len(alive),
                      "unavailableReplicas": 1 - len(ready) if len(ready) < 1 else 0, "conditions": conditions}
            if status != deployment.get("status"):
                deployment["status"] = status
                self._put("deployments", ns, deployment, "MODIFIED")

    def _create_deployment_pod(self, deployment: dict[str, Any]) -> str | None:
        """The ReplicaSet's pod through admission; the refusal's text, or None."""
        ns, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
        template = copy.deepcopy(deployment["spec"]["template"])
        refused = self._admit(ns, name, template["spec"])
        if refused:
            return refused
        template_hash = uuid.uuid5(uuid.NAMESPACE_OID, json.dumps(template, sort_keys=True)).hex[:10]
        pod_name = f"{name}-{template_hash}-{secrets.token_hex(3)[:5]}"
        labels = {**template.get("metadata", {}).get("labels", {}), "pod-template-hash": template_hash}
        pod_annotations = {k: v for k, v in template.get("metadata", {}).items() if k == "annotations"}
        spec = template["spec"]
        spec["tolerations"] = [*spec.get("tolerations", []), *DEFAULT_TOLERATIONS]
        self._put("pods", ns, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "labels": labels, **pod_annotations, "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                 "uid": deployment["metadata"]["uid"], "controller": True}]},
            "spec": spec, "status": {"phase": "Pending"},
        }, "ADDED")
        return None

    def _job_pods(self, ns: str, job: str) -> list[dict[str, Any]]:
        return [p for p in self.items("pods", ns) if p["metadata"].get("labels", {}).get("job-name") == job]

    def _jobs(self) -> None:
        """The Job controller for the Jobs the executor makes (parallelism 1, restartPolicy Never): pods counted as
        failed when Failed or terminating (podReplacementPolicy TerminatingOrFailed), a pod that vanished counted as
        failed too; FailureTarget first (DeadlineExceeded / BackoffLimitExceeded) while it terminates the pods
        that still run, gracefully, and Failed once none does."""
        for job in self.items("jobs"):
            ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
            if job["metadata"].get("deletionTimestamp"):  # foreground deletion: gone once its pods are
                if not self._job_pods(ns, name):
                    self._put("jobs", ns, job, "DELETED")
                continue
            status = job.setdefault("status", {})
            conditions = status.get("conditions", [])
            if any(c["type"] in ("Complete", "Failed") for c in conditions):
                continue
            pods = self._job_pods(ns, name)
            running = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")]
            target = next((c for c in conditions if c["type"] == "FailureTarget"), None)
            if target is not None:
                if not running:
                    self._finish_job(job, "Failed", target["reason"], target["message"])
                continue
            annotations = job["metadata"].setdefault("annotations", {})
            if not status.get("startTime"):
                status["startTime"] = now_iso()
                annotations["standin/started"] = str(time.monotonic())
                self._put("jobs", ns, job, "MODIFIED")
            started = float(annotations["standin/started"])
            deadline = job["spec"].get("activeDeadlineSeconds")
            if deadline and time.monotonic() - started > deadline:
                self._fail_job(job, running, "DeadlineExceeded", "Job was active longer than specified deadline")
                continue
            if any(p["status"].get("phase") == "Succeeded" for p in pods):
                self._finish_job(job, "Complete", None, None, succeeded=1, active=0)
                continue
            present = {p["metadata"]["name"] for p in pods}
            failed = [p for p in pods if p["status"].get("phase") == "Failed" or p["metadata"].get(
                "deletionTimestamp")]
            vanished = [n for n in annotations.get("standin/pods", "").split(",") if n and n not in present]
            if failed or vanished:
                status["failed"] = len(failed) + len(vanished)
                if status["failed"] > int(job["spec"].get("backoffLimit", 6)):
                    self._fail_job(job, [p for p in running if p not in failed], "BackoffLimitExceeded",
                                   "Job has reached the specified backoff limit")
                    continue
            if not running or all(p in failed for p in running):
                self._create_pod(job)

    def _fail_job(self, job: dict[str, Any], running: list[dict[str, Any]], reason: str, message: str) -> None:
        """FailureTarget now; the pods still running are terminated gracefully; Failed once they have ended."""
        ns = job["metadata"]["namespace"]
        self._finish_job(job, "FailureTarget", reason, message)
        for pod in running:
            self.delete_pod(ns, pod["metadata"]["name"])
        if not running:
            self._finish_job(job, "Failed", reason, message)

    def _finish_job(self, job: dict[str, Any], ctype: str, reason: str | None, message: str | None,
                    **counts: int) -> None:
        status = job["status"]
        status.update(counts)
        cond = {"type": ctype, "status": "True", "lastTransitionTime": now_iso()}
        if reason:
            cond.update(reason=reason, message=message)
        status["conditions"] = [*status.get("conditions", []), cond]
        self._put("jobs", job["metadata"]["namespace"], job, "MODIFIED")

    def _create_pod(self, job: dict[str, Any]) -> None:
        """Create the Job's next pod through admission; a rejection is a FailedCreate event on the Job and a retry
        with the controller's backoff (1 s doubling, at most 60 s), as the real Job controller does."""
        ns, job_name = job["metadata"]["namespace"], job["metadata"]["name"]
        attempts, next_try = self.failed_creates.get((ns, job_name), (0, 0.0))
        if time.monotonic() < next_try:
            return
        template = copy.deepcopy(job["spec"]["template"])
        refused = self._admit(ns, job_name, template["spec"])
        if refused:
            self.failed_creates[(ns, job_name)] = (attempts + 1, time.monotonic() + min(60.0, 2.0 ** attempts))
            self._record_event(ns, job, "FailedCreate", f"Error creating: {refused}")
            return
        self.failed_creates.pop((ns, job_name), None)
        name = f"{job_name}-{secrets.token_hex(3)[:5]}"
        labels = {**template.get("metadata", {}).get("labels", {}), "job-name": job_name,
                  "batch.kubernetes.io/job-name": job_name, "controller-uid": job["metadata"]["uid"]}
        pod_annotations = {k: v for k, v in template.get("metadata", {}).items() if k == "annotations"}
        spec = template["spec"]
        spec["tolerations"] = [*spec.get("tolerations", []), *DEFAULT_TOLERATIONS]  # DefaultTolerationSeconds
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels, **pod_annotations, "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                 "uid": job["metadata"]["uid"], "controller": True}]},
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        self._put("pods", ns, pod, "ADDED")
        annotations = job["metadata"].setdefault("annotations", {})
        annotations["standin/pods"] = ",".join(n for n in [annotations.get("standin/pods", ""), name] if n)
        job["status"]["active"] = 1
        self._put("jobs", ns, job, "MODIFIED")

    def _admit(self, ns: str, job_name: str, spec: dict[str, Any]) -> str | None:
        """The admission plugins' refusals, in their words (RuntimeClass, ServiceAccount): the error text or None."""
        forbidden = f'pods "{job_name}-" is forbidden: '  # the pod has only its generateName yet
        runtime_class = spec.get("runtimeClassName")
        if runtime_class and self.get("runtimeclasses", "", runtime_class) is None:
            return f'{forbidden}pod rejected: RuntimeClass "{runtime_class}" not found'
        account = spec.get("serviceAccountName")
        if account and account != "default" and self.get("serviceaccounts", ns, account) is None:
            return f'{forbidden}error looking up service account {ns}/{account}: serviceaccount "{account}" not found'
        return None

    def _record_event(self, ns: str, involved: dict[str, Any], reason: str, message: str,
                      typ: str = "Warning", component: str = "job-controller") -> None:
        """A core/v1 Event about `involved`; a repeat of the same one bumps its count (the event recorder's
        aggregation), as `kubectl get events` shows it."""
        meta = involved["metadata"]
        for event in self.items("events", ns):
            ref = event.get("involvedObject") or {}
            if ref.get("uid") == meta.get("uid") and event.get("reason") == reason and event.get("message") == message:
                event.update(count=int(event.get("count", 1)) + 1, lastTimestamp=now_iso())
                self._put("events", ns, event, "MODIFIED")
                return
        self._put("events", ns, {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}"},
            "involvedObject": {"apiVersion": involved.get("apiVersion", "v1"), "kind": involved.get("kind"),
                               "name": meta["name"], "namespace": ns, "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": typ, "count": 1, "firstTimestamp": now_iso(),
            "lastTimestamp": now_iso(), "source": {"component": component}, "reportingComponent": component,
        }, "ADDED")

    def _pods(self) -> None:
        for pod in self.items("pods"):
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if self._taint_evicts(pod):
                continue
            if pod["spec"].get("nodeName") in self.lost_nodes:  # no kubelet there to update it
                continue
            if (ns, name) in self.terminating:
                self._terminate(pod)
                continue
            if pod["metadata"].get("deletionTimestamp"):
                continue
            status = pod["status"]
            if status.get("phase") != "Pending" and (ns, name) not in self.containers:
                continue
            if not pod["spec"].get("nodeName"):
                self._schedule(pod)
            elif status.get("phase") == "Pending":
                self._pull_and_start(pod)
            else:
                self._watch_container(pod)

    def _schedule(self, pod: dict[str, Any]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        want = sum(int(c.get("resources", {}).get("limits", {}).get(GPU, 0)) for c in pod["spec"]["containers"])
        selector = pod["spec"].get("nodeSelector") or {}
        tolerations = pod["spec"].get("tolerations") or []
        nodes = self.items("nodes")
        reasons: dict[str, int] = {}
        chosen = None
        for node in nodes:
            labels = node["metadata"].get("labels", {})
            if any(labels.get(k) != v for k, v in selector.items()):
                reasons["node(s) didn't match Pod's node affinity/selector"] = reasons.get(
                    "node(s) didn't match Pod's node affinity/selector", 0) + 1
                continue
            taint = next((t for t in node.get("spec", {}).get("taints", [])
                          if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(tolerations, t)), None)
            if taint:
                text = f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
                reasons[text] = reasons.get(text, 0) + 1
                continue
            used = sum(
                int(c.get("resources", {}).get("limits", {}).get(GPU, 0))
                for p in self.items("pods") if p["spec"].get("nodeName") == node["metadata"]["name"]
                and p["status"].get("phase") in ("Pending", "Running") for c in p["spec"]["containers"]
            )
            if used + want > int(node["status"]["allocatable"].get(GPU, 0)):
                reasons[f"Insufficient {GPU}"] = reasons.get(f"Insufficient {GPU}", 0) + 1
                continue
            chosen = node["metadata"]["name"]
            break
        if chosen:
            pod["spec"]["nodeName"] = chosen
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
            self._put("pods", ns, pod, "MODIFIED")
            return
        message = (f"0/{len(nodes)} nodes are available: "
                   + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) + ". preemption: 0/"
                   + f"{len(nodes)} nodes are available: {len(nodes)} Preemption is not helpful for scheduling.")
        conds = pod["status"].get("conditions") or []
        if conds and conds[0].get("message") == message:
            return
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                        "message": message, "lastTransitionTime": now_iso()}]
        self._put("pods", ns, pod, "MODIFIED")
        self._put("events", ns, {"apiVersion": "v1", "kind": "Event",
                                 "metadata": {"name": f"{name}.{secrets.token_hex(4)}"},
                                 "involvedObject": {"kind": "Pod", "name": name, "namespace": ns},
                                 "reason": "FailedScheduling", "message": message, "type": "Warning"}, "ADDED")

    def _pull_and_start(self, pod: dict[str, Any]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]
        image = container["image"]
        if any(bad in image for bad in self.bad_images):
            started = self.pull_started.setdefault((ns, name), time.monotonic())
            reason = "ErrImagePull" if time.monotonic() - started < 1.0 else "ImagePullBackOff"
            message = (f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
                       f"{image.split('/')[0]}: not found") if reason == "ErrImagePull" else \
                f'Back-off pulling image "{image}"'
            current = (pod["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting", {})
            if current.get("reason") != reason:
                pod["status"]["containerStatuses"] = [{"name": container["name"], "image": image, "ready": False,
                                                       "restartCount": 0,
                                                       "state": {"waiting": {"reason": reason, "message": message}}}]
                self._put("pods", ns, pod, "MODIFIED")
            return
        try:
            proc_container = self._run_container(pod)
        except _ConfigError as exc:
            pod["status"]["containerStatuses"] = [{"name": container["name"], "image": image, "ready": False,
                                                   "state": {"waiting": {"reason": "CreateContainerConfigError",
                                                                         "message": str(exc)}}}]
            self._put("pods", ns, pod, "MODIFIED")
            return
        self.containers[(ns, name)] = proc_container
        probed = any(container.get(k) for k in ("startupProbe", "readinessProbe"))
        pod["status"].update(phase="Running", startTime=now_iso(), podIP="10.0.0.7")
        pod["status"]["containerStatuses"] = [{"name": container["name"], "image": image, "ready": not probed,
                                               "started": not container.get("startupProbe"),
                                               "restartCount": 0, "state": {"running": {"startedAt": now_iso()}}}]
        if probed:
            pod["status"]["conditions"] = [*pod["status"].get("conditions", []),
                                           {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]
            self._start_probes(pod, proc_container)
        self._put("pods", ns, pod, "MODIFIED")

    def _run_container(self, pod: dict[str, Any]) -> _Container:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        spec = pod["spec"]
        container = spec["containers"][0]
        root = self._tmp / f"{ns}-{name}"
        root.mkdir()
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mapping: dict[str, str] = {}
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "hostPath" in volume:  # the host's own path; its `type` checked as the kubelet does before mounting
                local = Path(volume["hostPath"]["path"])
                kind = volume["hostPath"].get("type") or ""
                if (kind == "File" and not local.is_file()) or (kind == "Directory" and not local.is_dir()):
                    raise _ConfigError(f"hostPath type check failed: {local} is not a {kind.lower()}")
                if not local.exists():  # "" and DirectoryOrCreate: the runtime creates a directory
                    local.mkdir(parents=True)
            else:
                local = root / "volumes" / mount["name"]
                local.mkdir(parents=True)
            if "configMap" in volume:
                cm = self.get("configmaps", ns, volume["configMap"]["name"])
                if cm is None:
                    raise _ConfigError(f'configmap "{volume["configMap"]["name"]}" not found')
                for key, text in (cm.get("data") or {}).items():
                    (local / key).write_text(text)
                for key, b64 in (cm.get("binaryData") or {}).items():
                    (local / key).write_bytes(base64.b64decode(b64))
                for f in local.iterdir():
                    f.chmod(0o444)
            mapping[mount["mountPath"]] = str(local)

        def local_path(text: str) -> str:
            for mount_path in sorted(mapping, key=len, reverse=True):
                text = text.replace(mount_path, mapping[mount_path])
            return text

        env = {"PATH": f"{self._shim}:/usr/local/bin:/usr/bin:/bin", "HOME": str(root),
               "LANG": "C.UTF-8", "HOSTNAME": name}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = local_path(item["value"])
                continue
            source = item.get("valueFrom", {})
            if "fieldRef" in source:
                path = source["fieldRef"]["fieldPath"]
                env[item["name"]] = {"metadata.name": name, "metadata.namespace": ns,
                                     "spec.nodeName": spec.get("nodeName", ""), "status.podIP": "10.0.0.7"}[path]
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                secret = self.get("secrets", ns, ref["name"])
                value = (secret or {}).get("data", {}).get(ref["key"])
                if value is None:
                    if ref.get("optional"):
                        continue
                    raise _ConfigError(f'secret "{ref["name"]}" not found')
                env[item["name"]] = base64.b64decode(value).decode()
        command = [local_path(a) for a in [*container.get("command", []), *container.get("args", [])]]
        command, port = self._substitute_vllm(command)
        if port is not None:  # the fake server's package (tests.standins) importable beside the pod's own
            env["PYTHONPATH"] = str(REPO)
        services = self.cluster_dns()
        if services:  # cluster DNS + kube-proxy, as far as a local process needs them
            env["PYTHONPATH"] = ":".join(x for x in (str(STANDIN_DNS), env.get("PYTHONPATH")) if x)
            env["STANDIN_CLUSTER_DNS"] = json.dumps(services)
        cwd = local_path(container.get("workingDir") or str(root))
        Path(cwd).mkdir(parents=True, exist_ok=True)
        log_path = root / "container.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=cwd, start_new_session=True)
        limit = quantity_bytes(container.get("resources", {}).get("limits", {}).get("memory", "0"))
        run = PodRun(ns, name, spec.get("nodeName", ""), pod["metadata"]["labels"].get("job-name", ""),
                     time.monotonic())
        self.runs.append(run)
        started = _Container(proc, log_path, root, limit, run)
        started.launch = (command, env, cwd)
        started.port = port
        return started

    def _substitute_vllm(self, command: list[str]) -> tuple[list[str], int | None]:
        """STAND-IN SUBSTITUTION: vLLM's OpenAI server (`-m vllm.entrypoints.openai.api_server`, in the container's
        argv or its shell script) becomes tests/standins/fake_openai.py with the same arguments and
        `fake_server_args`, listening on a free local port instead of 0.0.0.0:8000 (the pod's own network)."""
        module = "-m vllm.entrypoints.openai.api_server"
        if not any(module in a for a in command):
            return command, None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        extra = " ".join(shlex.quote(a) for a in self.fake_server_args)
        replaced = []
        for arg in command:
            if module in arg:
                arg = arg.replace(module, "-m tests.standins.fake_openai")
                arg = re.sub(r"--port \S+", f"--port {port}", arg)
                arg = re.sub(r"--host \S+", "--host 127.0.0.1", arg)
                arg = re.sub(r"(-m tests\.standins\.fake_openai[^\n]*)",
                             lambda m: f"{m.group(1)} {extra}".rstrip(), arg)
            replaced.append(arg)
        return replaced, port

    def cluster_dns(self) -> dict[str, str]:
        """`<svc>.<ns>.svc.cluster.local:<port>` (and `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`) → the local
        `127.0.0.1:<port>` of a running pod the Service selects: what cluster DNS and kube-proxy give a pod."""
        names: dict[str, str] = {}
        for service in self.items("services"):
            ns, svc = service["metadata"]["namespace"], service["metadata"]["name"]
            selector = (service.get("spec") or {}).get("selector") or {}
            target = next((c.port for (pns, pname), c in self.containers.items() if pns == ns and c.port
                           and selector and all((self.get("pods", pns, pname) or {}).get("metadata", {}).get(
                               "labels", {}).get(k) == v for k, v in selector.items())), None)
            if target is None:
                continue
            for port in (service.get("spec") or {}).get("ports") or []:
                for host in (svc, f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local"):
                    names[f"{host}:{port['port']}"] = f"127.0.0.1:{target}"
        return names

    # ---- kubelet: probes and restarts (restartPolicy Always) ------------------------------------------------

    def _start_probes(self, pod: dict[str, Any], c: _Container) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        spec = pod["spec"]["containers"][0]
        threading.Thread(target=self._probe_loop, args=(ns, name, spec, c, c.generation), daemon=True,
                         name=f"probes-{name}").start()

    def _probe_loop(self, ns: str, name: str, spec: dict[str, Any], c: _Container, generation: int) -> None:
        """The kubelet's prober for one run of the container: startup first (nothing else until it passes), then
        readiness and liveness, each at its own period."""
        probes = {kind: spec[kind] for kind in ("startupProbe", "readinessProbe", "livenessProbe") if spec.get(kind)}
        failures = dict.fromkeys(probes, 0)
        due = {kind: time.monotonic() + float(p.get("initialDelaySeconds", 0)) * self.time_scale
               for kind, p in probes.items()}
        started = "startupProbe" not in probes
        while not self._stop.is_set() and c.generation == generation and c.proc.poll() is None:
            now = time.monotonic()
            for kind, probe in probes.items():
                if now < due[kind] or (kind != "startupProbe" and not started) or (kind == "startupProbe" and started):
                    continue
                due[kind] = now + max(0.05, float(probe.get("periodSeconds", 10)) * self.time_scale)
                error = self._http_probe(c, probe)
                if c.generation != generation:
                    return
                if error is None:
                    failures[kind] = 0
                    if kind == "startupProbe":
                        started = True
                        self._container_update(ns, name, started=True)
                    elif kind == "readinessProbe":
                        self._container_update(ns, name, ready=True)
                    continue
                failures[kind] += 1
                label = {"startupProbe": "Startup", "readinessProbe": "Readiness", "livenessProbe": "Liveness"}[kind]
                self._pod_event(ns, name, "Unhealthy", f"{label} probe failed: {error}", "kubelet")
                if kind == "readinessProbe" and failures[kind] >= int(probe.get("failureThreshold", 3)):
                    self._container_update(ns, name, ready=False)
                if kind != "readinessProbe" and failures[kind] >= int(probe.get("failureThreshold", 3)):
                    which = "startup" if kind == "startupProbe" else "liveness"
                    self._pod_event(ns, name, "Killing", f"Container {spec['name']} failed {which} probe, will be "
                                                         f"restarted", "kubelet", typ="Normal")
                    with self.lock:
                        c.probe_kill = which
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(c.proc.pid, signal.SIGTERM)
                    return
            time.sleep(0.02)

    def _http_probe(self, c: _Container, probe: dict[str, Any]) -> str | None:
        """An httpGet probe against the container's process: None on 2xx/3xx, else the kubelet's words."""
        get = probe.get("httpGet") or {}
        url = f"http://10.0.0.7:{get.get('port')}{get.get('path', '/')}"
        if c.port is None:
            return f'Get "{url}": dial tcp 10.0.0.7:{get.get("port")}: connect: connection refused'
        timeout = min(float(probe.get("timeoutSeconds", 1)), 1.0)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{c.port}{get.get('path', '/')}", timeout=timeout) as r:
                return None if 200 <= r.status < 400 else f"HTTP probe failed with statuscode: {r.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP probe failed with statuscode: {exc.code}"
        except (OSError, ValueError):
            return f'Get "{url}": dial tcp 10.0.0.7:{get.get("port")}: connect: connection refused'

    def _container_update(self, ns: str, name: str, **fields: Any) -> None:
        with self.lock:
            pod = self.get("pods", ns, name)
            if pod is None or not pod["status"].get("containerStatuses"):
                return
            cs = pod["status"]["containerStatuses"][0]
            if all(cs.get(k) == v for k, v in fields.items()):
                return
            cs.update(fields)
            ready = bool(cs.get("ready"))
            conditions = [x for x in pod["status"].get("conditions", []) if x.get("type") != "Ready"]
            pod["status"]["conditions"] = [*conditions, {"type": "Ready", "status": "True" if ready else "False",
                                                         "lastTransitionTime": now_iso()}]
            self._put("pods", ns, pod, "MODIFIED")

    def _pod_event(self, ns: str, name: str, reason: str, message: str, component: str,
                   typ: str = "Warning") -> None:
        with self.lock:
            pod = self.get("pods", ns, name)
            if pod is not None:
                self._record_event(ns, pod, reason, message, typ=typ, component=component)

    def _restart_exited(self, pod: dict[str, Any], c: _Container, exit_code: int) -> None:
        """restartPolicy Always: the container exited; CrashLoopBackOff, then started again (restartCount + 1)."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        c.restarts += 1
        previous = c.root / "container.previous.log"  # `kubectl logs --previous` serves it from now on
        shutil.copyfile(c.log_path, previous)
        c.previous_log = previous
        c.run.ended = c.run.ended or time.monotonic()
        backoff = min(300.0, 10.0 * 2 ** (c.restarts - 1)) * self.time_scale
        c.restart_at = time.monotonic() + backoff
        reason = "OOMKilled" if c.oom_killed else ("Completed" if exit_code == 0 else "Error")
        cs = pod["status"]["containerStatuses"][0]
        cs.update(ready=False, started=False, restartCount=c.restarts,
                  lastState={"terminated": {"exitCode": exit_code, "reason": reason,
                                            "startedAt": pod["status"].get("startTime"), "finishedAt": now_iso()}},
                  state={"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {backoff:.0f}s restarting "
                                     f"failed container={cs['name']} pod={name}"}})
        conditions = [x for x in pod["status"].get("conditions", []) if x.get("type") != "Ready"]
        pod["status"]["conditions"] = [*conditions, {"type": "Ready", "status": "False",
                                                     "reason": "ContainersNotReady"}]
        self._put("pods", ns, pod, "MODIFIED")
        if c.restarts > 1:
            self._record_event(ns, pod, "BackOff", "Back-off restarting failed container", component="kubelet")

    def _relaunch(self, pod: dict[str, Any], c: _Container) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        assert c.launch is not None
        command, env, cwd = c.launch
        with open(c.log_path, "wb") as log:
            c.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, cwd=cwd, start_new_session=True)
        c.restart_at, c.oom_killed, c.probe_kill = None, False, None
        c.generation += 1
        c.run = PodRun(ns, name, pod["spec"].get("nodeName", ""), "", time.monotonic())
        self.runs.append(c.run)
        spec = pod["spec"]["containers"][0]
        cs = pod["status"]["containerStatuses"][0]
        cs.update(started=not spec.get("startupProbe"), ready=not spec.get("readinessProbe"),
                  state={"running": {"startedAt": now_iso()}})
        self._put("pods", ns, pod, "MODIFIED")
        self._start_probes(pod, c)

    def _watch_container(self, pod: dict[str, Any]) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        c = self.containers[(ns, name)]
        if c.finished_at:
            return
        if c.memory_limit and c.proc.poll() is None and _tree_rss(c.proc.pid) > c.memory_limit:
            c.oom_killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGKILL)
            c.proc.wait()
        code = c.proc.poll()
        if code is None:
            return
        exit_code = 128 - code if code < 0 else code
        if pod["spec"].get("restartPolicy") == "Always" and c.launch is not None and not pod["metadata"].get(
                "deletionTimestamp"):
            if c.restart_at is None:
                self._restart_exited(pod, c, exit_code)
            elif time.monotonic() >= c.restart_at:
                self._relaunch(pod, c)
            return
        c.run.ended = c.run.ended or time.monotonic()
        c.finished_at = now_iso()
        reason = "OOMKilled" if c.oom_killed else ("Completed" if exit_code == 0 else "Error")
        pod["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        pod["status"]["containerStatuses"][0].update(ready=False, state={"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": pod["status"].get("startTime"),
            "finishedAt": c.finished_at}})
        self._put("pods", ns, pod, "MODIFIED")

    def delete_pod(self, ns: str, name: str, grace_s: int | None = None) -> None:
        """Delete a pod as the API server and the kubelet do. Grace 0 (`--force`) removes it at once. Otherwise it
        gets deletionTimestamp and deletionGracePeriodSeconds (the request's, else the pod's
        terminationGracePeriodSeconds) and its container SIGTERM, SIGKILL when the grace period is over; then its
        phase becomes Failed (exit 143 or 137; Succeeded had it exited 0) and it disappears. A pod whose container
        is not running goes at once. On a lost node nothing confirms it stopped: it stays Terminating."""
        with self.lock:
            pod = self.get("pods", ns, name)
            if pod is None:
                return
            key = (ns, name)
            if grace_s == 0:
                self._kill(key, signal.SIGKILL)
                self.terminating.pop(key, None)
                self._put("pods", ns, pod, "DELETED")
                return
            grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30) if grace_s is None else grace_s)
            if pod["metadata"].get("deletionTimestamp"):  # already terminating: a new deletion only shortens it
                if key in self.terminating:
                    self.terminating[key] = min(self.terminating[key], time.monotonic() + grace)
                return
            ends = (datetime.now(UTC) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
            pod["metadata"].update(deletionTimestamp=ends, deletionGracePeriodSeconds=grace)
            self._put("pods", ns, pod, "MODIFIED")
            if pod["spec"].get("nodeName") in self.lost_nodes:
                return
            c = self.containers.get(key)
            if c is None or c.finished_at:  # nothing runs there (never started, or already ended)
                self._put("pods", ns, pod, "DELETED")
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGTERM)
            self.terminating[key] = time.monotonic() + grace

    def _terminate(self, pod: dict[str, Any]) -> None:
        """The kubelet's side of a graceful deletion: SIGKILL after the grace period, the terminal status, gone."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        c = self.containers[(ns, name)]
        if c.proc.poll() is None and time.monotonic() >= self.terminating[(ns, name)]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGKILL)
            c.proc.wait()
        if c.proc.poll() is None:
            return
        self._watch_container(pod)
        del self.terminating[(ns, name)]
        self._put("pods", ns, pod, "DELETED")

    def taint_node(self, name: str, key: str, value: str = "", effect: str = "NoExecute") -> None:
        """`kubectl taint nodes NAME KEY=VALUE:EFFECT`."""
        with self.lock:
            node = self.get("nodes", "", name)
            assert node is not None, f"no node {name}"
            taint = {"key": key, "value": value, "effect": effect, "timeAdded": now_iso()}
            node.setdefault("spec", {})["taints"] = [*node["spec"].get("taints", []), taint]
            self._put("nodes", "", node, "MODIFIED")

    def _taint_evicts(self, pod: dict[str, Any]) -> bool:
        """The taint manager: a pod on a node with a NoExecute taint it does not tolerate (or tolerates for
        tolerationSeconds, now over) gets DisruptionTarget=DeletionByTaintManager and is deleted."""
        node_name = pod["spec"].get("nodeName")
        if not node_name or pod["metadata"].get("deletionTimestamp"):
            return False
        node = self.get("nodes", "", node_name)
        for taint in (node or {}).get("spec", {}).get("taints", []):
            if taint.get("effect") != "NoExecute":
                continue
            toleration = _toleration(pod["spec"].get("tolerations") or [], taint)
            if toleration is not None and toleration.get("tolerationSeconds") is None:
                continue
            if toleration is not None:
                added = datetime.strptime(taint.get("timeAdded") or now_iso(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                if datetime.now(UTC) < added + timedelta(seconds=int(toleration["tolerationSeconds"])):
                    continue
            ns = pod["metadata"]["namespace"]
            message = "Taint manager: deleting due to NoExecute taint"
            pod["status"]["conditions"] = [*pod["status"].get("conditions", []), {
                "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                "message": message, "lastTransitionTime": now_iso()}]
            self._put("pods", ns, pod, "MODIFIED")
            self._record_event(ns, pod, "TaintManagerEviction",
                               f"Marking for deletion Pod {ns}/{pod['metadata']['name']}", typ="Normal",
                               component="taint-eviction-controller")
            self.delete_pod(ns, pod["metadata"]["name"])
            return True
        return False

    def _kill(self, key: tuple[str, str], sig: signal.Signals = signal.SIGTERM) -> None:
        c = self.containers.get(key)
        if c is None or c.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(c.proc.pid, sig)
        try:
            c.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGKILL)
            c.proc.wait()
        c.run.ended = c.run.ended or time.monotonic()

    # ---- faults -------------------------------------------------------------------------------------------

    def evict_pod(self, ns: str, name: str, resource: str = "memory") -> None:
        """The kubelet evicts the pod under node pressure: it kills the container and fails the pod with reason
        Evicted, the kubelet's message and a DisruptionTarget condition (what `kubectl describe pod` shows)."""
        message = (f"The node was low on resource: {resource}. Threshold quantity: 100Mi, available: 42Mi. "
                   f"Container bench was using 1536Mi, request is 1Gi, has larger consumption of {resource}.")
        with self.lock:
            pod = self.get("pods", ns, name)
            assert pod is not None, f"no pod {ns}/{name}"
            self._kill((ns, name), signal.SIGKILL)
            c = self.containers.get((ns, name))
            if c is not None:
                c.finished_at = now_iso()
            status = pod["status"]
            status.update(phase="Failed", reason="Evicted", message=message)
            status["conditions"] = [*status.get("conditions", []), {
                "type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": message,
                "lastTransitionTime": now_iso()}]
            for cs in status.get("containerStatuses") or []:
                cs.update(ready=False, state={"terminated": {"exitCode": 137, "reason": "Error",
                                                             "finishedAt": now_iso()}})
            self._put("pods", ns, pod, "MODIFIED")
            self._put("events", ns, {"apiVersion": "v1", "kind": "Event",
                                     "metadata": {"name": f"{name}.{secrets.token_hex(4)}"},
                                     "involvedObject": {"kind": "Pod", "name": name, "namespace": ns},
                                     "reason": "Evicted", "message": message, "type": "Warning"}, "ADDED")

    def lose_node(self, name: str, remove: bool = False) -> None:
        """The node goes dark while pods run there: their processes die with it and no kubelet reports again, so
        the pods keep their last status (Running).

        remove=False: the node lifecycle controller's view (a real cluster shows it ~40 s after the last heartbeat):
        Ready=Unknown, NodeStatusUnknown, unreachable taints, pods' Ready=False. Deleting such a pod without
        `--force` leaves it Terminating. remove=True: the Node object is deleted (a cloud instance gone) and pod
        garbage collection fails and deletes its pods (DisruptionTarget DeletionByPodGC).
        """
        with self.lock:
            node = self.get("nodes", "", name)
            assert node is not None, f"no node {name}"
            self.lost_nodes.add(name)
            pods = [p for p in self.items("pods") if p["spec"].get("nodeName") == name]
            for pod in pods:
                self._kill((pod["metadata"]["namespace"], pod["metadata"]["name"]), signal.SIGKILL)
            if remove:
                self._put("nodes", "", node, "DELETED")
                for pod in pods:
                    ns = pod["metadata"]["namespace"]
                    pod["status"]["phase"] = "Failed"
                    pod["status"]["conditions"] = [*pod["status"].get("conditions", []), {
                        "type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                        "message": "PodGC: node no longer exists", "lastTransitionTime": now_iso()}]
                    self._put("pods", ns, pod, "MODIFIED")
                    self._put("pods", ns, pod, "DELETED")
                return
            node["status"]["conditions"] = [{
                "type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                "message": "Kubelet stopped posting node status.", "lastTransitionTime": now_iso()}]
            node.setdefault("spec", {})["taints"] = [
                *node["spec"].get("taints", []),
                {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now_iso()}]
            self._put("nodes", "", node, "MODIFIED")
            for pod in pods:
                conditions = [c for c in pod["status"].get("conditions", []) if c.get("type") != "Ready"]
                pod["status"]["conditions"] = [*conditions, {"type": "Ready", "status": "False",
                                                             "reason": "NodeNotReady"}]
                self._put("pods", pod["metadata"]["namespace"], pod, "MODIFIED")

    def processes_alive(self) -> list[int]:
        return [c.proc.pid for c in self.containers.values() if c.proc.poll() is None]


class _ConfigError(Exception):
    pass


def _throwaway_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca.crt, server.crt, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True)
    now = datetime.now(UTC)

    def build(subject: str, issuer: x509.Name | None, key: Any, signer: Any, ca: bool) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                                  critical=False))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
        else:
            builder = (builder
                       .add_extension(x509.SubjectAlternativeName([
                           x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                           critical=False)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("standin-apiserver-ca", None, ca_key, ca_key, ca=True)
    server = build("standin-apiserver", ca.subject, server_key, ca_key, ca=False)
    paths = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return paths


def _status(code: int, reason: str, message: str, success: bool = False) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success" if success else "Failure",
            "message": message, "reason": reason, "code": code}


def _matches(obj: dict[str, Any], selector: str | None) -> bool:
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        if sep and labels.get(key.strip()) != value.strip():
            return False
        if not sep and key.strip() not in labels:
            return False
    return True


def _matches_fields(obj: dict[str, Any], selector: str | None) -> bool:
    """A field selector (`involvedObject.name=x,type!=Normal`): dotted paths into the object, = / == / !=."""
    for term in (selector or "").split(","):
        if not term.strip():
            continue
        negate = "!=" in term
        path, _, value = term.replace("!=", "=").replace("==", "=").partition("=")
        found: Any = obj
        for part in path.strip().split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if (str(found if found is not None else "") == value.strip()) == negate:
            return False
    return True


def _toleration(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> dict[str, Any] | None:
    """The toleration that matches the taint, or None."""
    for t in tolerations:
        if t.get("effect") not in (None, "", taint.get("effect")):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint["key"]):
            return t
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return t
    return None


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    return _toleration(tolerations, taint) is not None


def _tree_rss(pid: int) -> int:
    """Resident memory of a process and its descendants, in bytes (what a cgroup's memory limit counts)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total
