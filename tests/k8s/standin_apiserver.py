"""TEST STAND-IN for a Kubernetes API server (there is no cluster on CI machines). Product code never imports this.

It speaks the real REST and watch protocol to the real `kubernetes` Python client over loopback HTTP — or HTTPS with
a throwaway CA (`tls=True`, for the in-cluster configuration, which insists on https): JSON objects with
resourceVersion, list + watch (chunked JSON lines, `timeoutSeconds`, 410 Expired for versions older than the last
compaction), create/read/replace/delete, `propagationPolicy` and `gracePeriodSeconds` on deletion, and pod logs with
`follow=true`.

It stores Jobs, Pods, ConfigMaps, Secrets, Nodes and Events, and plays the parts of the control plane the executor
depends on:
- Job controller: one pod per Job from its template (labels job-name, controller-uid), Job status and conditions
  (Complete, Failed with BackoffLimitExceeded or DeadlineExceeded after activeDeadlineSeconds).
- Scheduler: nodeSelector, NoSchedule taints vs tolerations, allocatable nvidia.com/gpu minus what running pods use;
  an unschedulable pod gets PodScheduled=False/Unschedulable with a message in the real scheduler's words.
- Kubelet: images whose name contains an entry of `bad_images` fail with ErrImagePull then ImagePullBackOff; other
  containers run their command as a local process — mountPaths mapped to temp dirs (configMap files written out,
  emptyDir empty, hostPath the host's own path), the image's `python3` mapped to the test's Python, env from values,
  the downward API and Secrets — and a memory limit enforced like the OOM killer (RSS of the process tree over the
  limit → SIGKILL, reason OOMKilled, exit code 137).
- Faults on demand: `evict_pod` (the kubelet evicting under node pressure) and `lose_node` (a node going dark, or
  being removed): the pod statuses, node conditions and taints, and deletion behaviour a real cluster shows — pods on
  a lost node stay Terminating unless force-deleted, and a Job deleted in the foreground waits for them.
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
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

GPU = "nvidia.com/gpu"
KINDS = {  # plural -> (apiVersion, kind, namespaced)
    "pods": ("v1", "Pod", True),
    "configmaps": ("v1", "ConfigMap", True),
    "secrets": ("v1", "Secret", True),
    "events": ("v1", "Event", True),
    "nodes": ("v1", "Node", False),
    "jobs": ("batch/v1", "Job", True),
}
_ROUTE = re.compile(
    r"^/(?:api/v1|apis/batch/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?"
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


class StandInAPIServer:
    """A loopback Kubernetes API server stand-in; `start()` it, hand `kubeconfig(path)` to the client, `stop()` it."""

    def __init__(self, nodes: list[FakeNode], python: str = sys.executable, version: str = "v1.33.2",
                 bad_images: tuple[str, ...] = ("does-not-exist",), tick_s: float = 0.05, tls: bool = False) -> None:
        self.python = python
        self.version = version
        self.bad_images = bad_images
        self.tick_s = tick_s
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 100
        self.store: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name) -> object
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.compacted_rv = 0
        self.containers: dict[tuple[str, str], _Container] = {}
        self.pull_started: dict[tuple[str, str], float] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) for assertions
        self.bearer_tokens: set[str] = set()  # the credentials clients presented
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
        """Forget the watch history (as etcd compaction does): watches from older versions get 410 Expired."""
        with self.lock:
            self.compacted_rv = self.rv
            self.history.clear()

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
                items = [o for o in self.items(plural, ns or None) if _matches(o, query.get("labelSelector"))]
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
                if plural == "jobs":
                    body.setdefault("status", {})
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
            policy = body.get("propagationPolicy") or query.get("propagationPolicy") or "Background"
            with self.lock:
                found = self.get(plural, ns, name)
                if not found:
                    return h._send(404, _status(404, "NotFound", f'{plural} "{name}" not found'))
                if plural == "pods":
                    self.delete_pod(ns, name, grace)
                    return h._send(200, found)
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
        since = int(query.get("resourceVersion") or 0)
        timeout = float(query.get("timeoutSeconds") or 1800)
        selector = query.get("labelSelector")
        h._start_chunked("application/json")
        end = time.monotonic() + timeout
        try:
            with self.lock:
                if since and since < self.compacted_rv:
                    h._chunk((json.dumps({"type": "ERROR", "object": _status(
                        410, "Expired", f"too old resource version: {since} ({self.compacted_rv})")}) + "\n").encode())
                    return
                if not since:  # no version: the current state as ADDED events first
                    for obj in self.items(plural, ns or None):
                        if _matches(obj, selector):
                            h._chunk((json.dumps({"type": "ADDED", "object": obj}) + "\n").encode())
                    since = self.rv
            while not self._stop.is_set():
                with self.lock:
                    pending = [(rv, t, o) for rv, p, t, o in self.history
                               if rv > since and p == plural and (not ns or o["metadata"].get("namespace") == ns)]
                    if not pending:
                        left = end - time.monotonic()
                        if left <= 0:
                            return
                        self.changed.wait(timeout=min(left, 0.5))
                        continue
                for rv, typ, obj in pending:
                    since = rv
                    if _matches(obj, selector):
                        h._chunk((json.dumps({"type": typ, "object": obj}) + "\n").encode())
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
                    self._pods()
                except Exception as exc:  # a stand-in bug must be visible, not a hang
                    print(f"standin controller error: {exc!r}", file=sys.stderr)
            time.sleep(self.tick_s)

    def _job_pods(self, ns: str, job: str) -> list[dict[str, Any]]:
        return [p for p in self.items("pods", ns) if p["metadata"].get("labels", {}).get("job-name") == job]

    def _jobs(self) -> None:
        for job in self.items("jobs"):
            ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
            if job["metadata"].get("deletionTimestamp"):  # foreground deletion: gone once its pods are
                if not self._job_pods(ns, name):
                    self._put("jobs", ns, job, "DELETED")
                continue
            status = job.setdefault("status", {})
            if any(c["type"] in ("Complete", "Failed") for c in status.get("conditions", [])):
                continue
            pods = [p for p in self.items("pods", ns) if p["metadata"].get("labels", {}).get("job-name") == name]
            if not status.get("startTime"):
                status["startTime"] = now_iso()
                job["metadata"]["annotations"] = {"standin/started": str(time.monotonic())}
                self._put("jobs", ns, job, "MODIFIED")
                self._create_pod(job)
                continue
            started = float(job["metadata"]["annotations"]["standin/started"])
            deadline = job["spec"].get("activeDeadlineSeconds")
            if deadline and time.monotonic() - started > deadline:
                self._finish_job(job, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
                for pod in pods:
                    self.delete_pod(ns, pod["metadata"]["name"])
                continue
            for pod in pods:
                phase = pod["status"].get("phase")
                if phase == "Succeeded":
                    self._finish_job(job, "Complete", None, None, succeeded=1)
                elif phase == "Failed":
                    self._finish_job(job, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff "
                                     "limit", failed=1)

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
        template = copy.deepcopy(job["spec"]["template"])
        name = f"{job['metadata']['name']}-{secrets.token_hex(3)[:5]}"
        labels = {**template.get("metadata", {}).get("labels", {}), "job-name": job["metadata"]["name"],
                  "batch.kubernetes.io/job-name": job["metadata"]["name"],
                  "controller-uid": job["metadata"]["uid"]}
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels, "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                 "uid": job["metadata"]["uid"], "controller": True}]},
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        }
        self._put("pods", job["metadata"]["namespace"], pod, "ADDED")

    def _pods(self) -> None:
        for pod in self.items("pods"):
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if pod["spec"].get("nodeName") in self.lost_nodes:  # no kubelet there to update it
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
            taint = next((t for t in node.get("spec", {}).get("taints", []) if t.get("effect") == "NoSchedule"
                          and not _tolerates(tolerations, t)), None)
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
        pod["status"].update(phase="Running", startTime=now_iso(), podIP="10.0.0.7")
        pod["status"]["containerStatuses"] = [{"name": container["name"], "image": image, "ready": True,
                                               "restartCount": 0, "state": {"running": {"startedAt": now_iso()}}}]
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
            if "hostPath" in volume:
                local = Path(volume["hostPath"]["path"])
                local.mkdir(parents=True, exist_ok=True)
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
        return _Container(proc, log_path, root, limit, run)

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
        c.run.ended = c.run.ended or time.monotonic()
        c.finished_at = now_iso()
        exit_code = 128 - code if code < 0 else code
        reason = "OOMKilled" if c.oom_killed else ("Completed" if exit_code == 0 else "Error")
        pod["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        pod["status"]["containerStatuses"][0].update(ready=False, state={"terminated": {
            "exitCode": exit_code, "reason": reason, "startedAt": pod["status"].get("startTime"),
            "finishedAt": c.finished_at}})
        self._put("pods", ns, pod, "MODIFIED")

    def delete_pod(self, ns: str, name: str, grace_s: int | None = None) -> None:
        """Delete a pod. On a lost node only a forced deletion (grace 0) removes it: nothing confirms it stopped, so
        otherwise it stays Terminating (deletionTimestamp set), as `kubectl get pods` shows on a real cluster."""
        with self.lock:
            pod = self.get("pods", ns, name)
            self._kill((ns, name))
            if pod is None:
                return
            if pod["spec"].get("nodeName") in self.lost_nodes and grace_s != 0:
                if not pod["metadata"].get("deletionTimestamp"):
                    pod["metadata"].update(deletionTimestamp=now_iso(), deletionGracePeriodSeconds=grace_s or 30)
                    self._put("pods", ns, pod, "MODIFIED")
                return
            self._put("pods", ns, pod, "DELETED")

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


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    for t in tolerations:
        if t.get("effect") not in (None, "", taint.get("effect")):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, taint["key"]):
            return True
        if t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


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
