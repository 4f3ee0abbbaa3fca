"""A serving group's vLLM server on the cluster (a Deployment of one pod and its ClusterIP Service), for the length
of the group's client Job: apply, wait until the pod is Ready, watch it while the client runs, keep its log, delete.

    apply    the Service, then the Deployment (the ConfigMap with the package is the client Job's, created first)
    ready    the Deployment watched in windows of `poll_s`; each window the server pod and its events are read and
             diagnosed as a Job's pod is (unschedulable after the grace period, image pull errors, OOMKilled), plus
             what only a server shows: its container exited before it was ready (CrashLoopBackOff) — with the last
             lines of its log —, the kubelet killing it for a failed startup probe (event `failed startup probe`,
             Unhealthy), the Deployment past its progressDeadlineSeconds, a pod the ReplicaSet cannot create; a
             progress line every PROGRESS_S; Ready = the pod's Ready condition (readinessProbe /v1/models)
    watch    while the client Job runs, a thread reads the server pod every `poll_s`: a restart (restartCount up) or
             a pod gone is remembered with the server's last log lines, and the group's results say so
    log      results/<run_id>/logs/<group>-server.log: the previous container's log (after a restart) and the
             current one, the HF token redacted
    cleanup  the Deployment (Foreground), its pods and the Service: at the end, on a diagnosis, on timeout and on
             Ctrl-C; never raises

Reference: reference/serving-multinode-anchors.md §1 and §7(a) (probes, wait loop, abort conditions).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from bench.config import RunGroup
from bench.executors.k8s_diagnose import Diagnosis, diagnose_pod
from bench.executors.k8s_manifests import LABEL_JOB, SERVER_CONTAINER, GroupManifests, server_budget_s
from bench.executors.k8s_rbac import delete_each, forbidden_message
from bench.results.rundir import RunDirectory

if TYPE_CHECKING:
    from bench.executors.base import Echo
    from bench.executors.kubernetes import KubernetesExecutor

PROGRESS_S = 15.0  # how often the readiness wait says what it waits for
LOG_TAIL = 15  # lines of the server's log quoted in a diagnosis
WAIT_MARGIN_S = 120.0  # past the startup budget, the executor's own limit (the Deployment's deadline comes first)


class ServerWatch:
    """One serving group's server: `deploy`, `wait_ready`, `watch_during` the client, `cleanup`."""

    def __init__(self, executor: KubernetesExecutor, group: RunGroup, manifests: GroupManifests,
                 run_dir: RunDirectory, echo: Echo, cancel: threading.Event | None = None) -> None:
        assert manifests.deployment is not None and manifests.service is not None and manifests.server
        self.x = executor
        self.c = executor.config
        self.group = group
        self.m = manifests
        self.name = manifests.server
        self.echo = echo
        self.cancel = cancel
        self.selector = f"{LABEL_JOB}={self.name}"  # the server pod (the Job's pods carry the Job's name)
        self.log_path = run_dir.logs / f"{group.name}-server.log"
        self.secret = executor.environ.get("HF_TOKEN") or None
        self.created = False
        self.cleaned = False
        self.pod: str | None = None  # the Ready pod
        self.restarts = 0  # its restartCount when it became Ready
        self.failure: str | None = None  # what happened to the server while the client ran
        self.first_seen: dict[tuple[str, str], float] = {}
        self.announced: set[str] = set()
        self.events_readable = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def say(self, text: str) -> None:
        self.echo(f"[kubernetes] {text}")

    # ---- apply -----------------------------------------------------------------------------------------------

    def deploy(self) -> None:
        ns = self.c.namespace
        self.x._core().create_namespaced_service(ns, self.m.service, _preload_content=False)
        self.created = True
        self.x._apps().create_namespaced_deployment(ns, self.m.deployment, _preload_content=False)
        self.say(f"created Deployment {ns}/{self.name} (the vLLM server, {self.c.gpus} GPU) and Service "
                 f"{self.name}:8000; log: {self.log_path}")

    # ---- readiness -------------------------------------------------------------------------------------------

    def wait_ready(self) -> str | None:
        """Until the server pod is Ready: None, else why it will not be (one line)."""
        budget = server_budget_s(self.c, self.group)
        begin = time.monotonic()
        give_up = begin + budget + WAIT_MARGIN_S
        next_note = begin + PROGRESS_S
        while True:
            self._check_cancel()
            deployment, version = self._read_deployment()
            if deployment is None:
                return "the server's Deployment was deleted by someone or something else before it was ready"
            pods = self._pods()
            outcome = self._diagnose_deployment(deployment, pods)
            for pod in pods:
                outcome = outcome or self._diagnose_pod(pod)
            if outcome:
                return outcome
            ready = next((p for p in pods if _ready(p)), None)
            if ready is not None:
                self.pod = ready["metadata"]["name"]
                self.restarts = _restarts(ready)
                self.say(f"vLLM server pod {self.pod} Ready after {time.monotonic() - begin:.0f} s on node "
                         f"{(ready.get('spec') or {}).get('nodeName')}; the client reaches it at {self.name}")
                return None
            now = time.monotonic()
            if now > give_up:
                return self._with_tail(f"the vLLM server was not ready after {budget + WAIT_MARGIN_S:.0f} s "
                                       f"({_state(pods)})", pods)
            if now >= next_note:
                next_note += PROGRESS_S
                tail = self._log_tail(pods[0]["metadata"]["name"], lines=1) if pods else []
                self.say(f"waiting for the vLLM server ({now - begin:.0f} s of {budget} s; {_state(pods)})"
                         + (f": {tail[-1][:160]}" if tail else ""))
            self._wait_for_change(version)

    def _read_deployment(self) -> tuple[dict[str, Any] | None, str | None]:
        listing = self.x._raw(self.x._apps().list_namespaced_deployment(
            self.c.namespace, field_selector=f"metadata.name={self.name}", _preload_content=False))
        items = listing.get("items") or []
        return (items[0] if items else None), (listing.get("metadata") or {}).get("resourceVersion")

    def _wait_for_change(self, version: str | None) -> None:
        """One watch window on the Deployment: back at its first change (the controller counts the pod Ready), or
        after `poll_s`, whichever comes first."""
        window = max(1, math.ceil(min(self.c.poll_s, 5.0)))
        response = self.x._apps().list_namespaced_deployment(
            self.c.namespace, field_selector=f"metadata.name={self.name}", resource_version=version, watch=True,
            timeout_seconds=window, _request_timeout=window + 30, _preload_content=False)
        try:
            for chunk in response.stream(amt=None, decode_content=False):
                if chunk.strip():
                    return
        except Exception:  # the window ended or the connection broke: read the state again either way
            return
        finally:
            response.close()
            response.release_conn()

    def _pods(self) -> list[dict[str, Any]]:
        listing = self.x._raw(self.x._core().list_namespaced_pod(
            self.c.namespace, label_selector=self.selector, _preload_content=False))
        return [p for p in listing.get("items") or [] if not (p.get("metadata") or {}).get("deletionTimestamp")]

    def _diagnose_deployment(self, deployment: dict[str, Any], pods: list[dict[str, Any]]) -> str | None:
        conditions = (deployment.get("status") or {}).get("conditions") or []
        for cond in conditions:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
                return self._with_tail(f"the vLLM server's Deployment exceeded its progress deadline "
                                       f"(progressDeadlineSeconds={deadline}): {_state(pods)}", pods)
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                return f"the vLLM server pod could not be created: {_one_line(cond.get('message'))}"
        return None

    def _diagnose_pod(self, pod: dict[str, Any]) -> str | None:
        """What a Job's pod would be diagnosed with, then what a server's restarts say."""
        name = pod["metadata"]["name"]
        probe = diagnose_pod(pod, 0.0, math.inf, math.inf)
        if probe is not None:
            now = time.monotonic()
            waited = now - self.first_seen.setdefault((name, probe.kind), now)
            diagnosis = diagnose_pod(pod, waited, self.c.unschedulable_grace_s, self.c.image_pull_grace_s)
            if diagnosis is not None and diagnosis.fatal:
                return self._server_diagnosis(diagnosis, [pod])
            if diagnosis is not None and probe.kind not in self.announced:
                self.announced.add(probe.kind)
                grace = self.c.unschedulable_grace_s if probe.kind == "unschedulable" else self.c.image_pull_grace_s
                self.say(f"vLLM server: waiting (gives up after {grace:.0f} s): {diagnosis.message}")
        status = _server_status(pod)
        terminated = ((status.get("lastState") or {}).get("terminated")
                      or (status.get("state") or {}).get("terminated"))
        if not terminated and _restarts(pod) == 0:
            return None
        probe_kill = self._probe_kill(name)
        if probe_kill:
            return self._with_tail(probe_kill, [pod], previous=True)
        waiting = ((status.get("state") or {}).get("waiting") or {}).get("reason")
        code = (terminated or {}).get("exitCode")
        how = f"exited with code {code}" if code is not None else "stopped"
        state = f"{waiting}, " if waiting else ""
        return self._with_tail(f"the vLLM server container {how} before it was ready ({state}restarts "
                               f"{_restarts(pod)})", [pod], previous=True)

    def _server_diagnosis(self, diagnosis: Diagnosis, pods: list[dict[str, Any]]) -> str:
        text = f"the vLLM server pod: {diagnosis.message}"
        if diagnosis.kind in ("oom", "crash"):
            return self._with_tail(text, pods, previous=True)
        return text

    def _probe_kill(self, pod: str) -> str | None:
        """The kubelet's words when it killed the container for a failed probe (event Killing `failed startup
        probe, will be restarted`, after Unhealthy `Startup probe failed: …`)."""
        if not self.events_readable:
            return None
        from kubernetes.client.exceptions import ApiException

        try:
            events = self.x._raw(self.x._core().list_namespaced_event(
                self.c.namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
                _preload_content=False)).get("items") or []
        except ApiException as exc:
            self.events_readable = False
            self.say(forbidden_message(exc) or f"cannot read the server pod's events ({exc.status})")
            return None
        texts = [str(e.get("message") or e.get("note") or "") for e in events]
        unhealthy = [t for t in texts if "probe failed" in t.lower()]
        if any("failed startup probe" in t for t in texts):
            period = _probe(self.m.deployment, "startupProbe")
            budget = int(period.get("periodSeconds", 10)) * int(period.get("failureThreshold", 3))
            last = next((t for t in reversed(unhealthy) if t.startswith("Startup")), "")
            return (f"the vLLM server did not answer its startup probe (/health) within {budget} s "
                    f"(failureThreshold × periodSeconds) and the kubelet restarted it — the model load takes longer "
                    f"than that: raise the start-up budget with --param serving.server_timeout_s=S"
                    + (f"; {_one_line(last, 200)}" if last else ""))
        if any("failed liveness probe" in t for t in texts):
            last = next((t for t in reversed(unhealthy) if t.startswith("Liveness")), "")
            return ("the vLLM server stopped answering its liveness probe (/health) and the kubelet restarted it"
                    + (f"; {_one_line(last, 200)}" if last else ""))
        return None

    # ---- while the client runs --------------------------------------------------------------------------------

    def watch_during(self) -> contextlib.AbstractContextManager[None]:
        """A thread reading the server pod every `poll_s` while the block runs; what went wrong is `failure`."""
        server = self

        @contextlib.contextmanager
        def watching() -> Any:
            server._thread = threading.Thread(target=server._watch, daemon=True, name=f"server-{server.name}")
            server._thread.start()
            try:
                yield
            finally:
                server._stop.set()
                server._thread.join(timeout=10)
                if server.failure is None:
                    with contextlib.suppress(Exception):
                        server._check_alive()  # a last look: it may have died in the client's final second
        return watching()

    def _watch(self) -> None:
        while not self._stop.wait(min(self.c.poll_s, 2.0)):
            try:
                if self._check_alive():
                    return
            except Exception:  # the API server is briefly unreachable: look again next time
                continue

    def check_service(self) -> str | None:
        """Before the client starts: the Service is there and selects the Ready pod's labels (else the client would
        only see connection errors)."""
        from kubernetes.client.exceptions import ApiException

        try:
            service = self.x._raw(self.x._core().read_namespaced_service(self.name, self.c.namespace,
                                                                         _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return f"the server's Service {self.name} was deleted by someone or something else"
            raise
        selector = (service.get("spec") or {}).get("selector") or {}
        labels = ((self.m.deployment or {}).get("spec", {}).get("template", {}).get("metadata") or {}).get("labels")
        if not selector or any((labels or {}).get(k) != v for k, v in selector.items()):
            return f"the server's Service {self.name} does not select the server pod (selector {selector})"
        return None

    def _check_alive(self) -> bool:
        """Whether the server went wrong (restarted, died, its pod or Deployment gone); `failure` says how."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.x._raw(self.x._apps().read_namespaced_deployment(self.name, self.c.namespace,
                                                                  _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                self.failure = "the vLLM server's Deployment was deleted by someone or something else mid-run"
                return True
            raise
        pods = {p["metadata"]["name"]: p for p in self._pods()}
        pod = pods.get(self.pod or "")
        if pod is None:
            self.failure = (f"the vLLM server pod {self.pod} went away while the client ran (deleted or evicted"
                            f"{'; now ' + _state(list(pods.values())) if pods else ''})")
            self.failure = self._with_tail(self.failure, list(pods.values()))
            return True
        restarts = _restarts(pod)
        if restarts > self.restarts:
            terminated = (_server_status(pod).get("lastState") or {}).get("terminated") or {}
            code = terminated.get("exitCode")
            why = self._probe_kill(self.pod or "")
            text = (f"the vLLM server restarted while the client ran (container exited"
                    f"{f' with code {code}' if code is not None else ''}"
                    f"{', ' + terminated['reason'] if terminated.get('reason') else ''}; restarts {restarts})")
            self.failure = self._with_tail(text + (f": {why}" if why else ""), [pod], previous=True)
            return True
        return False

    # ---- logs --------------------------------------------------------------------------------------------------

    def _log_tail(self, pod: str, lines: int = LOG_TAIL, previous: bool = False) -> list[str]:
        text = self._read_log(pod, previous, lines)
        return [line.strip() for line in text.splitlines() if line.strip()][-lines:]

    def _read_log(self, pod: str, previous: bool = False, lines: int | None = None) -> str:
        try:
            response = self.x._core().read_namespaced_pod_log(
                pod, self.c.namespace, container=SERVER_CONTAINER, previous=previous, tail_lines=lines,
                _preload_content=False)
            try:
                text = (response.data or b"").decode("utf-8", errors="replace")
            finally:
                response.release_conn()
        except Exception:  # not started yet, no previous container, or gone
            return ""
        return text.replace(self.secret, "***") if self.secret else text

    def _with_tail(self, text: str, pods: list[dict[str, Any]], previous: bool = False) -> str:
        """`text` and the server's last log lines (the previous container's when it restarted, else the current)."""
        if not pods:
            return text
        name = pods[0]["metadata"]["name"]
        tail = (self._log_tail(name, previous=True) if previous else []) or self._log_tail(name)
        return text + (f"; last lines of the server's log: {' | '.join(t[:200] for t in tail)}" if tail else "")

    def save_log(self) -> None:
        """The server pod's log into logs/<group>-server.log (after a restart: the previous container's first)."""
        with contextlib.suppress(Exception):
            pods = self._pods()
            if not pods:
                return
            pod = next((p for p in pods if p["metadata"]["name"] == self.pod), pods[0])
            name = pod["metadata"]["name"]
            parts = []
            if _restarts(pod):
                parts.append(f"[kubernetes] --- {name}: previous container (restarts {_restarts(pod)}) ---\n"
                             + self._read_log(name, previous=True))
            parts.append(f"[kubernetes] --- {name} ---\n" + self._read_log(name))
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text("\n".join(parts), encoding="utf-8")

    # ---- cleanup -----------------------------------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise KeyboardInterrupt

    def cleanup(self) -> None:
        """Delete the Deployment (its pods with it), any of its pods left, and the Service; never raises."""
        if self.cleaned or not self.created:
            return
        self.cleaned = True
        self._stop.set()
        self.save_log()
        from kubernetes import client

        ns = self.c.namespace
        body = client.V1DeleteOptions(propagation_policy="Foreground", grace_period_seconds=5)
        steps = (
            (f"Deployment {self.name}", lambda: self.x._apps().delete_namespaced_deployment(
                self.name, ns, body=body, _preload_content=False)),
            (f"the pods of {self.name}", self._delete_pods),
            (f"Service {self.name}", lambda: self.x._core().delete_namespaced_service(
                self.name, ns, _preload_content=False)),
        )
        delete_each(steps, self.say)
        self.say(f"deleted Deployment {ns}/{self.name}, its pods and Service {self.name}")

    def _delete_pods(self) -> None:
        """The server's pods, should the garbage collector be slow or off: nothing may hold the GPUs after the run."""
        from kubernetes import client

        for pod in self._pods():
            with contextlib.suppress(Exception):
                self.x._core().delete_namespaced_pod(pod["metadata"]["name"], self.c.namespace,
                                                     body=client.V1DeleteOptions(grace_period_seconds=5),
                                                     _preload_content=False)


def _server_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s.get("name") == SERVER_CONTAINER), statuses[0] if statuses else {})


def _restarts(pod: dict[str, Any]) -> int:
    try:
        return int(_server_status(pod).get("restartCount") or 0)
    except (TypeError, ValueError):
        return 0


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _probe(deployment: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    containers = (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers")
    return dict((containers or [{}])[0].get(kind) or {})


def _state(pods: list[dict[str, Any]]) -> str:
    """`pod X Running, not ready, restarts 0` — what the server pod is doing, in a few words."""
    if not pods:
        return "no server pod yet"
    pod = pods[0]
    status = _server_status(pod)
    waiting = ((status.get("state") or {}).get("waiting") or {}).get("reason")
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return (f"pod {pod['metadata']['name']} {waiting or phase}, {'ready' if _ready(pod) else 'not ready'}, "
            f"restarts {_restarts(pod)}")


def _one_line(text: Any, limit: int = 400) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def server_error(results: list[Any], failure: str) -> None:
    """Every result of the group fails with what happened to the server (kept after the client's own error)."""
    for result in results:
        result.error = f"{result.error}; {failure}" if result.error else failure
        result.passed = False

