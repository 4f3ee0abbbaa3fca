"""Run a RunGroup as a batch/v1 Job: submit, watch, stream logs, diagnose, clean up.

    submit   capacity check (allocatable nvidia.com/gpu on matching nodes), the HF token Secret (from $HF_TOKEN, never
             printed or saved), ConfigMap (group config + bench package) and Job; manifests saved to
             results/<run_id>/manifests/<group>.yaml with the package payload elided
    watch    the Job's pods through the watch API (resourceVersion and bookmarks; re-list on 410 Gone / expiry in any
             form), the Job's conditions after each watch window, and while there is no pod the Job's FailedCreate
             events; pending states are diagnosed after a grace period; a pod being deleted is reported as deleted
             (or the deadline, an eviction, a lost node), never by the exit code the deletion gave it
    logs     followed live once the container starts: to the terminal and results/<run_id>/logs/<group>.log; every
             `BENCH_RESULT <json>` line the entry point prints is a finished result, kept even if the pod is deleted
    cleanup  the Job (propagationPolicy Foreground, so its pods go too) and the ConfigMap — at the end, on timeout,
             on a diagnosis and on Ctrl-C; pods on a lost node are force-deleted (their kubelet cannot confirm)
    parallel with `parallel` > 1 the suite runs that many groups in threads; the executor holds at most as many Jobs
             on the cluster as the matching nodes' GPUs can run at once (the rest wait here, not Pending there)
    serving  a group that starts its own vLLM server (group.starts_server): its GPUs checked against what the
             eligible nodes' pods hold (naming those pods when none has room), then the Service and Deployment
             applied, the pod's readiness waited for and diagnosed, the client Job run as any Job, the server watched
             meanwhile, its log kept, and both deleted with the Job (k8s_server.py)
    rbac     every API call here is listed in k8s_rbac.py's PERMISSIONS (what roles/benchmark_namespace grants); a 403
             becomes one line naming the verb, resource and namespace refused and the Role rule to add

The `kubernetes` client is imported lazily: `bench run --dry-run` and the local executor do not need it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.config import RunGroup
from bench.errors import BenchError, ConfigError
from bench.executors.base import Echo, Executor, complete_results
from bench.executors.k8s_diagnose import (
    Diagnosis,
    describe_node_loss,
    describe_taint_eviction,
    diagnose_failed_create,
    diagnose_job,
    diagnose_pod,
    pod_deleted_message,
)
from bench.executors.k8s_manifests import (
    GPU_RESOURCE,
    LABEL_HOSTNAME,
    LABEL_JOB,
    RESULT_PREFIX,
    GroupManifests,
    KubernetesConfig,
    container_script,
    render_group,
    to_yaml,
)
from bench.executors.k8s_rbac import delete_each, forbidden_message
from bench.executors.k8s_server import ServerWatch, server_error
from bench.results.rundir import RunDirectory
from bench.results.schema import Result

if TYPE_CHECKING:
    from bench.variants import Variant

MISSING_CLIENT = "the kubernetes executor needs the `kubernetes` Python package: pip install -e '.[k8s]'"
LOG_DRAIN_S = 30.0  # after the pod ends, how long to wait for the log stream to deliver its last lines
NODE_LOST_DRAIN_S = 5.0  # the same when the node is gone: its kubelet will not send more
# Where Kubernetes mounts a pod's service account (token, ca.crt): the in-cluster configuration.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass
class _Session:
    """What a run's executors share — one per run, however many variants it compares: the API client (loaded
    once), the server version, whether the HF token Secret is written, and the Job slots (how many of the run's Jobs
    may be on the cluster at once). Groups run in threads share it too, under `lock`."""

    api_client: Any = None
    server_version: str | None = None
    secret_done: bool = False
    slots: threading.BoundedSemaphore | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)


class KubernetesExecutor(Executor):
    name = "kubernetes"
    supported_variant_keys = ("runtime-class", "env", "volume", "image", "node-selector", "annotation", "resource")

    def __init__(self, config: KubernetesConfig | None = None, dry_run: bool = False,
                 environ: Mapping[str, str] | None = None, service_account_dir: Path = SERVICE_ACCOUNT_DIR,
                 **options: Any) -> None:
        self.config = (config or KubernetesConfig.from_options(options)).validate()
        self.dry_run = dry_run
        self.environ = os.environ if environ is None else environ
        self.service_account_dir = Path(service_account_dir)
        self._session = _Session()
        self._lock = self._session.lock

    @property
    def max_parallel_groups(self) -> int:
        return self.config.parallel

    # ---- description and rendering (no cluster needed) -------------------------------------------------------

    def describe(self) -> str:
        c = self.config
        parts = [f"variant {c.variant}"] if c.variant else []
        parts += [f"namespace {c.namespace}", f"image {c.image}", f"{c.gpus} {GPU_RESOURCE} per Job"]
        if c.runtime_class:
            parts.append(f"runtimeClass {c.runtime_class}")
        if c.node_selector:
            parts.append("nodeSelector " + ",".join(f"{k}={v}" for k, v in c.node_selector.items()))
        if c.env:  # names only: values may hold a proxy's password
            parts.append("env " + ",".join(c.env))
        if c.extra_volumes:
            parts.append("volumes " + ",".join(v.describe() for v in c.extra_volumes))
        if c.pod_annotations:
            parts.append("annotations " + ",".join(f"{k}={v}" for k, v in c.pod_annotations.items()))
        if c.context:
            parts.append(f"context {c.context}")
        parts.append("one Job at a time" if c.parallel == 1 else f"up to {c.parallel} Jobs at a time")
        return f"kubernetes ({', '.join(parts)})" + (" — dry run" if self.dry_run else "")

    def preflight(self, plan: list[RunGroup]) -> list[str]:
        """A Job gets `--gpus` GPUs: an LLM group whose engine wants more ranks than that cannot start."""
        for group in plan:
            engine = group.engine
            ranks = _int(engine.get("tensor_parallel_size", 1)) * _int(engine.get("pipeline_parallel_size", 1))
            if (group.uses_llm or group.starts_server) and ranks > self.config.gpus:
                raise ConfigError(f"tensor_parallel_size × pipeline_parallel_size = {ranks} GPUs, but each Job gets "
                                  f"{self.config.gpus} {GPU_RESOURCE}: pass --gpus {ranks}")
        return []

    # ---- overhead comparisons --------------------------------------------------------------------------------

    def _with_variant(self, variant: Variant, node: str | None) -> KubernetesExecutor:
        """This executor with its config as `variant` says (on `node`: nodeSelector kubernetes.io/hostname), sharing
        this one's session — the API client, the Secret and the Job slots: one run, whichever side a Job is."""
        c = self.config
        selector = {**c.node_selector, **variant.node_selector}
        if node:
            selector[LABEL_HOSTNAME] = node
        config = dataclasses.replace(
            c, variant=variant.name, runtime_class=variant.runtime_class or c.runtime_class,
            image=variant.image or c.image, env={**c.env, **variant.env}, node_selector=selector,
            cpu=variant.resources.get("cpu", c.cpu), memory=variant.resources.get("memory", c.memory),
            extra_volumes=(*c.extra_volumes, *variant.volumes),
            pod_annotations={**c.pod_annotations, **variant.annotations},
        ).validate()
        clone = copy.copy(self)  # the same class (a subclass's script too), the same _Session
        clone.config = config
        return clone

    def preflight_comparison(self, plan: list[RunGroup], variants: list[Variant], node: str | None) -> str | None:
        """Before a comparison's first Job: every variant's RuntimeClass exists (`kubectl get runtimeclass`), and
        the node both sides run on — `node`, checked, or the eligible node with the most free GPUs (ties: by name).
        Eligible: it matches every variant's nodeSelector, is Ready and not cordoned, its NoSchedule/NoExecute taints
        are tolerated, and its free nvidia.com/gpu (allocatable minus what its running pods request, in any
        namespace) hold `--gpus`. Anything amiss is one ConfigError; nothing is submitted here."""
        self._client()  # no `kubernetes` package, no kubeconfig: its one line (BenchError)
        try:
            self._check_runtime_classes(variants)
            return self._pick_node(variants, node)
        except BenchError:
            raise
        except Exception as exc:  # a 403 names the rule to add; anything else is the API error in one line
            raise ConfigError(forbidden_message(exc)
                              or f"Kubernetes API error before the comparison: {_short(exc)}") from None

    def _check_runtime_classes(self, variants: list[Variant]) -> None:
        from kubernetes import client

        wanted = {v.name: v.runtime_class or self.config.runtime_class for v in variants}
        if not any(wanted.values()):
            return
        listing = self._raw(client.NodeV1Api(self._client()).list_runtime_class(_preload_content=False))
        existing = sorted(rc["metadata"]["name"] for rc in listing.get("items") or [])
        for name, runtime_class in wanted.items():
            if runtime_class and runtime_class not in existing:
                raise ConfigError(
                    f"variant {name}: RuntimeClass {runtime_class!r} does not exist on the cluster (it has: "
                    f"{', '.join(existing) or 'none'}); pass runtime-class= one of those, or create it "
                    f"(roles/nvidia_device_plugin creates the site's)")

    def _pick_node(self, variants: list[Variant], node: str | None) -> str:
        c = self.config
        sides = [{**c.node_selector, **variant.node_selector} for variant in variants]
        selector = {k: v for side in sides for k, v in side.items()}
        conflicting = sorted({k for side in sides for k, v in side.items() if v != selector[k]})
        if conflicting:
            raise ConfigError(f"the variants ask for different node-selector {', '.join(conflicting)}: both sides "
                              f"of a comparison run on one node; give them the same value")
        nodes = {n["metadata"]["name"]: n for n in self._raw(self._core().list_node(_preload_content=False))["items"]}
        if node is not None and node not in nodes:
            raise ConfigError(f"--node {node}: no such node on the cluster (it has: {', '.join(sorted(nodes))})")
        considered = [node] if node is not None else sorted(nodes)
        why_out: dict[str, str] = {}
        free: dict[str, int] = {}
        for name in considered:
            reason = _node_unfit(nodes[name], selector, c.tolerations)
            if reason is None:
                allocatable = _int((nodes[name].get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE))
                used = self._gpus_requested_on(name) if allocatable else 0
                free[name] = allocatable - used
                if free[name] < c.gpus:
                    reason = (f"{free[name]} {GPU_RESOURCE} free ({allocatable} allocatable, {used} requested by "
                              f"its running pods), each Job needs {c.gpus}")
            if reason is not None:
                why_out[name] = reason
                free.pop(name, None)
        if node is not None:
            if node in why_out:
                raise ConfigError(f"--node {node} cannot run this comparison: {why_out[node]}")
            return node
        if not free:
            listed = "; ".join(f"{name}: {why}" for name, why in why_out.items()) or "the cluster has no nodes"
            raise ConfigError(f"no node can run both sides of this comparison ({listed}); nothing was submitted")
        return max(sorted(free), key=lambda name: free[name])  # the most free GPUs; ties: the first by name

    def _gpus_requested_on(self, node: str) -> int:
        """The nvidia.com/gpu that the pods on `node` which have not ended request, in every namespace (what
        `kubectl describe node` counts under Allocated resources)."""
        return sum(gpus for _, gpus in self._gpu_holders(node))

    def _gpu_holders(self, node: str) -> list[tuple[str, int]]:
        """The pods on `node` that hold nvidia.com/gpu, as (namespace/name, effective request): every pod that has
        not ended (Succeeded and Failed skipped; a terminating pod, still Running, holds its GPUs until it is gone)."""
        pods = self._raw(self._core().list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node},status.phase!=Succeeded,status.phase!=Failed",
            _preload_content=False))["items"]
        held = [(f"{p['metadata'].get('namespace')}/{p['metadata']['name']}", _pod_gpus(p))
                for p in pods if _phase(p) not in ("Succeeded", "Failed")]
        return sorted(h for h in held if h[1] > 0)

    def check_server_gpus(self, echo: Echo) -> str | None:
        """Before a serving group's server is deployed: None when an eligible node (nodeSelector, Ready, not
        cordoned, taints tolerated — as a comparison's node is chosen) has `--gpus` nvidia.com/gpu free
        (allocatable minus what its pods that have not ended request), else one line naming, per eligible node, the
        pods that hold its GPUs."""
        from kubernetes.client.exceptions import ApiException

        c = self.config
        if c.gpus == 0:
            return None
        try:
            nodes = sorted(self._raw(self._core().list_node(_preload_content=False))["items"],
                           key=lambda n: n["metadata"]["name"])
            held: list[str] = []
            out: list[str] = []
            for node in nodes:
                name = node["metadata"]["name"]
                unfit = _node_unfit(node, c.node_selector, c.tolerations)
                if unfit is not None:
                    out.append(f"{name}: {unfit}")
                    continue
                allocatable = _int((node.get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE))
                holders = self._gpu_holders(name) if allocatable else []
                used = sum(gpus for _, gpus in holders)
                if allocatable - used >= c.gpus:
                    return None
                pods = ", ".join(f"{pod} ({gpus})" for pod, gpus in holders)
                held.append(f"{name}: {used}/{allocatable} held" + (f" by {pods}" if pods else ""))
        except ApiException as exc:
            if exc.status in (401, 403):
                why = forbidden_message(exc) or f"cannot list nodes or pods ({exc.status})"
                echo(f"[kubernetes] {why}; skipping the server's GPU check")
                return None
            raise
        if not held:
            return (f"no node can run the vLLM server ({'; '.join(out) or 'the cluster has no nodes'}); nothing "
                    f"was created")
        return (f"no node has {c.gpus} free {GPU_RESOURCE} for the vLLM server: {'; '.join(held)}; nothing was "
                f"created — wait for those pods to end, or free the GPUs")

    def script(self, group: RunGroup) -> str:
        """The container's shell script (the entry point). A subclass may run something else."""
        return container_script(self.config, group)

    def render(self, group: RunGroup, run_id: str, server_version: str | None = None) -> GroupManifests:
        return render_group(self.config, group, run_id, server_version, script=self.script(group))

    def dry_run_yaml(self, groups: list[RunGroup], run_id: str) -> str:
        objects = [o for g in groups for o in self.render(g, run_id).for_display()]
        return to_yaml(objects)

    # ---- the client ------------------------------------------------------------------------------------------

    def api_client(self) -> Any:
        """The API client the run uses: the kubeconfig (or the pod's service account), loaded once."""
        return self._client()

    def _client(self) -> Any:
        with self._lock:
            if self._session.api_client is None:
                self._session.api_client = self._new_client()
            return self._session.api_client

    def _new_client(self) -> Any:
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
            from kubernetes.config.incluster_config import InClusterConfigLoader
        except ImportError:
            raise BenchError(MISSING_CLIENT) from None
        c = self.config
        configuration = client.Configuration()
        try:
            if c.kubeconfig or not self.environ.get("KUBERNETES_SERVICE_HOST"):
                path = c.kubeconfig or self.environ.get("KUBECONFIG") or None
                if path and not Path(path).expanduser().exists():
                    raise BenchError(f"kubeconfig {path} does not exist: pass --kubeconfig PATH")
                config.load_kube_config(config_file=path, context=c.context, client_configuration=configuration)
            else:  # in a pod: its service account, and the API server the environment names
                InClusterConfigLoader(
                    token_filename=str(self.service_account_dir / "token"),
                    cert_filename=str(self.service_account_dir / "ca.crt"), environ=self.environ,
                ).load_and_set(configuration)
        except (ConfigException, OSError, ValueError) as exc:
            raise BenchError(f"cannot load the Kubernetes configuration ({exc}); pass --kubeconfig PATH and "
                             f"--context NAME, or run in a pod with a service account") from None
        # each running group holds a pod watch and a log stream open, besides its short requests
        configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize, 4 * c.parallel + 4)
        return client.ApiClient(configuration)

    def _core(self) -> Any:
        from kubernetes import client
        return client.CoreV1Api(self._client())

    def _batch(self) -> Any:
        from kubernetes import client
        return client.BatchV1Api(self._client())

    def _apps(self) -> Any:
        from kubernetes import client
        return client.AppsV1Api(self._client())

    @staticmethod
    def _raw(response: Any) -> dict[str, Any]:
        """The JSON of a `_preload_content=False` response."""
        try:
            return json.loads(response.data or b"{}")
        finally:
            response.release_conn()

    def server_version(self) -> str:
        with self._lock:
            if self._session.server_version is None:
                from kubernetes import client
                try:
                    info = self._raw(client.VersionApi(self._client()).get_code(_preload_content=False))
                except BenchError:
                    raise
                except Exception as exc:
                    raise BenchError(f"cannot reach the Kubernetes API server: {_short(exc)}; check --kubeconfig "
                                     f"and --context") from None
                self._session.server_version = str(info.get("gitVersion") or "unknown")
            return self._session.server_version

    # ---- capacity and the Secret -----------------------------------------------------------------------------

    def check_capacity(self, echo: Echo) -> str | None:
        """None when some node matching the nodeSelector can hold the GPU request, else why the cluster cannot."""
        from kubernetes.client.exceptions import ApiException

        c = self.config
        if c.gpus == 0:
            self._limit_jobs(c.parallel, echo)
            return None
        selector = ",".join(f"{k}={v}" for k, v in c.node_selector.items()) or None
        try:
            nodes = self._raw(self._core().list_node(label_selector=selector, _preload_content=False))["items"]
        except ApiException as exc:
            if exc.status in (401, 403):
                why = forbidden_message(exc) or f"cannot list nodes ({exc.status})"
                echo(f"[kubernetes] {why}; skipping the GPU capacity check")
                self._limit_jobs(c.parallel, echo)
                return None
            raise
        where = f"nodes matching nodeSelector {selector}" if selector else "the cluster's nodes"
        if not nodes:
            return f"cluster cannot run this: no node matches nodeSelector {selector}; nothing was submitted"
        per_node = {
            n["metadata"]["name"]: _int((n.get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE))
            for n in nodes if not (n.get("spec") or {}).get("unschedulable")
        }
        total, best = sum(per_node.values()), max(per_node.values(), default=0)
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(per_node.items())) or "all cordoned"
        if c.gpus > best:
            return (f"cluster cannot run this: each Job requests {c.gpus} {GPU_RESOURCE} but {where} have at most "
                    f"{best} allocatable on one node ({shown}; total {total}); nothing was submitted — lower --gpus, "
                    f"or check the NVIDIA device plugin on the GPU nodes")
        fits = sum(n // c.gpus for n in per_node.values())  # Jobs the matching nodes can run at the same time
        if fits < c.parallel:
            self._limit_jobs(fits, echo, f"{c.parallel} parallel Jobs × {c.gpus} {GPU_RESOURCE} do not fit at once "
                                         f"on {where} ({shown})")
        else:
            self._limit_jobs(c.parallel, echo)
        return None

    def _limit_jobs(self, limit: int, echo: Echo, why: str | None = None) -> None:
        """Set, once, how many of this run's Jobs may be on the cluster at the same time."""
        with self._lock:
            if self._session.slots is not None:
                return
            limit = max(1, min(limit, self.config.parallel))
            self._session.slots = threading.BoundedSemaphore(limit)
        if why:
            echo(f"[kubernetes] note: {why}; {limit} Job{'s' if limit > 1 else ''} at a time, the others wait")

    @contextlib.contextmanager
    def _job_slot(self, echo: Echo, cancel: threading.Event | None) -> Iterator[None]:
        """Hold one of the run's Job slots while the Job exists; waiting for one ends at once on `cancel`."""
        slots = self._session.slots
        if slots is None:
            yield
            return
        if not slots.acquire(blocking=False):
            echo("[kubernetes] waiting for another group's Job to end (no free GPUs for one more)")
            while not slots.acquire(timeout=0.2):
                if cancel is not None and cancel.is_set():
                    raise KeyboardInterrupt
        try:
            yield
        finally:
            slots.release()

    def ensure_hf_secret(self, echo: Echo) -> None:
        """Create or update the HF token Secret from $HF_TOKEN. The value is never printed, logged or saved."""
        token = self.environ.get("HF_TOKEN")
        with self._lock:
            if not token or self._session.secret_done:
                return
            self._write_hf_secret(token, echo)
            self._session.secret_done = True

    def _write_hf_secret(self, token: str, echo: Echo) -> None:
        from kubernetes.client.exceptions import ApiException

        c = self.config
        import base64

        body = {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": c.hf_secret_name, "namespace": c.namespace,
                         "labels": {"app.kubernetes.io/name": "kcloud-mlperf"}},
            "data": {c.hf_secret_key: base64.b64encode(token.encode()).decode()},
        }
        core = self._core()
        try:
            try:
                core.replace_namespaced_secret(c.hf_secret_name, c.namespace, body, _preload_content=False)
                verb = "updated"
            except ApiException as exc:
                if exc.status != 404:
                    raise
                core.create_namespaced_secret(c.namespace, body, _preload_content=False)
                verb = "created"
            echo(f"[kubernetes] Secret {c.namespace}/{c.hf_secret_name} {verb} from $HF_TOKEN "
                 f"(key {c.hf_secret_key}; value not shown)")
        except ApiException as exc:
            why = forbidden_message(exc) or f"could not write Secret {c.hf_secret_name} ({exc.status} {exc.reason})"
            echo(f"[kubernetes] {why}; the Job uses Secret {c.hf_secret_name} if it already exists")

    # ---- run -------------------------------------------------------------------------------------------------

    def run(self, group: RunGroup, run_dir: RunDirectory, echo: Echo = print,
            cancel: threading.Event | None = None) -> list[Result]:
        raw = run_dir.path / "raw" / f"{group.name}.json"
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.unlink(missing_ok=True)
        try:
            version = self.server_version()
            manifests = self.render(group, run_dir.run_id, version)
            (run_dir.manifests / f"{group.name}.yaml").write_text(
                f"# applied to {version}; Secret {self.config.hf_secret_name} referenced, never rendered\n"
                + to_yaml(manifests.for_display()), encoding="utf-8")
            short = self.check_capacity(echo)
            if not short and manifests.server:
                short = self.check_server_gpus(echo)
        except BenchError as exc:
            return complete_results(group, raw, str(exc))
        except Exception as exc:  # API errors before anything was submitted
            return complete_results(group, raw, forbidden_message(exc)
                                    or f"Kubernetes API error before submitting: {_short(exc)}")
        if short:
            echo(f"[kubernetes] {short}")
            return complete_results(group, raw, short)

        watcher = _JobWatch(self, group, manifests, run_dir, raw, echo, cancel)
        server = ServerWatch(self, group, manifests, run_dir, echo, cancel) if manifests.server else None
        reason: str | None
        try:
            with self._job_slot(echo, cancel):
                try:
                    self.ensure_hf_secret(echo)
                    reason = watcher.submit() if server is None else self._serve(watcher, server)
                except BenchError as exc:
                    reason = str(exc)
                except Exception as exc:
                    reason = forbidden_message(exc) or f"Kubernetes API error: {_short(exc)}"
                finally:  # also on Ctrl-C; before the slot goes to the next group
                    watcher.cleanup()
                    if server is not None:
                        server.cleanup()
        except KeyboardInterrupt:
            done = "Job and its pods deleted" if watcher.submitted else "nothing was submitted"
            if server is not None and server.created:
                client = "the client Job and its pods deleted" if watcher.job_created else "no client Job yet"
                done = f"{client}; the vLLM server's Deployment, pods and Service deleted"
            run_dir.add_results(complete_results(group, raw, f"interrupted (Ctrl-C); {done}"))
            raise
        if reason:
            echo(f"[kubernetes] {group.name}: {reason}")
        results = complete_results(group, raw, reason)
        if server is not None and server.failure:
            echo(f"[kubernetes] {group.name}: {server.failure}")
            server_error(results, server.failure)
        return results

    def _serve(self, watcher: _JobWatch, server: ServerWatch) -> str | None:
        """A serving group: the ConfigMap, the server (Service + Deployment) until it is Ready, then the client Job
        while the server is watched. The reason the group failed, or None."""
        watcher.create_configmap()
        server.deploy()
        reason = server.wait_ready() or server.check_service()
        if reason:
            return reason
        with server.watch_during():
            return watcher.submit()


class _JobWatch:
    """One Job's life: submit, watch its pods and itself, follow the log, clean up."""

    def __init__(self, executor: KubernetesExecutor, group: RunGroup, manifests: GroupManifests,
                 run_dir: RunDirectory, raw: Path, echo: Echo, cancel: threading.Event | None = None) -> None:
        self.x = executor
        self.c = executor.config
        self.group = group
        self.m = manifests
        self.raw = raw
        self.echo = echo
        self.log_path = run_dir.logs / f"{group.name}.log"
        self.results: dict[str, dict[str, Any]] = {}
        self.tail: deque[str] = deque(maxlen=20)
        self.secret = executor.environ.get("HF_TOKEN") or None
        self.log_thread: threading.Thread | None = None
        self.submitted = False  # the ConfigMap is there (and the Job, or it is about to be)
        self.job_created = False
        self.cleaned = False
        self.pods: dict[str, dict[str, Any]] = {}
        self.first_seen: dict[tuple[str, str], float] = {}
        self.announced: set[str] = set()
        self.cancel = cancel
        self.node_lost = False  # the pod's node is gone: its pods are force-deleted at cleanup
        self.events_readable = True  # FailedCreate events: list events in the namespace (turned off by a 403)
        self.selector = f"{LABEL_JOB}={manifests.name}"  # the Job's pods
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        self.echo(f"[kubernetes] {text}")

    def submit(self) -> str | None:
        """Create the ConfigMap (unless done) and the Job, and follow it: the reason it failed, or None."""
        self.create_configmap()
        ns = self.c.namespace
        self.x._batch().create_namespaced_job(ns, self.m.job, _preload_content=False)
        self.job_created = True
        self.say(f"submitted Job {ns}/{self.m.name} (kubectl -n {ns} get jobs -l "
                 f"kcloud-mlperf/run-id={self.m.labels['kcloud-mlperf/run-id']}); log: {self.log_path}")
        return self.follow()

    def create_configmap(self) -> None:
        if self.submitted:
            return
        self.x._core().create_namespaced_config_map(self.c.namespace, self.m.configmap, _preload_content=False)
        self.submitted = True

    # -- watching

    def follow(self) -> str | None:
        """Watch until the workload ends; the reason it failed (one line), or None when the pod succeeded."""
        core, ns = self.x._core(), self.c.namespace
        give_up = time.monotonic() + self.group.timeout_s + max(60.0, self.c.poll_s * 4)
        resource_version: str | None = None
        while True:
            self._check_cancel()
            events: list[tuple[str, dict[str, Any]]] = []
            if resource_version is None:  # (re-)list, then watch from the list's version
                listing = self.x._raw(core.list_namespaced_pod(ns, label_selector=self.selector,
                                                               _preload_content=False))
                resource_version = listing["metadata"].get("resourceVersion")
                events = [("ADDED", p) for p in listing["items"]]
                self._forget_missing({p["metadata"]["name"] for p in listing["items"]}, events)
                outcome = self._handle(events)
                if outcome is not _CONTINUE:
                    return outcome
            try:
                for event in self._watch_pods(resource_version):
                    self._check_cancel()
                    kind, obj = event.get("type"), _event_object(event)
                    if kind == "ERROR":
                        if not watch_expired(event):
                            raise BenchError(f"the pod watch failed: {_status_text(obj)}")
                        resource_version = None  # expired: re-list
                        break
                    resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                    if kind == "BOOKMARK":  # nothing changed up to this version: resume from here
                        continue
                    outcome = self._handle([(str(kind), obj)])
                    if outcome is not _CONTINUE:
                        return outcome
            except Exception as exc:
                if not watch_expired(exc):
                    raise
                resource_version = None  # expired: re-list
            outcome = self._check_job_and_grace()
            if outcome is not _CONTINUE:
                return outcome
            if time.monotonic() > give_up:
                return f"timed out after {self.group.timeout_s} s (raise it with --timeout); Job deleted"

    def _watch_pods(self, resource_version: str | None) -> Iterator[dict[str, Any]]:
        """One watch window on the Job's pods: the events as the server sends them, BOOKMARK and ERROR included.
        Read here, not through `watch.Watch`: with `deserialize=False` it turns an ERROR event (410 Expired) into
        KeyError('raw_object'), and otherwise it builds client models that reject fields some servers omit."""
        window = max(1, math.ceil(self.c.poll_s))
        response = self.x._core().list_namespaced_pod(
            self.c.namespace, label_selector=self.selector, resource_version=resource_version, watch=True,
            allow_watch_bookmarks=True, timeout_seconds=window, _request_timeout=window + 30, _preload_content=False)
        buffer = b""
        try:
            for chunk in response.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip():
                yield json.loads(buffer)
        finally:  # closed, not only released: a watch left half-read must not go back to the pool
            response.close()
            response.release_conn()

    def _check_cancel(self) -> None:
        """A Ctrl-C passed on to this group's thread: end as a Ctrl-C would."""
        if self.cancel is not None and self.cancel.is_set():
            raise KeyboardInterrupt

    def _forget_missing(self, present: set[str], events: list[tuple[str, dict[str, Any]]]) -> None:
        """Pods we knew that a re-list no longer shows were deleted while we were not watching."""
        for name in set(self.pods) - present:
            events.append(("DELETED", self.pods[name]))

    def _handle(self, events: list[tuple[str, dict[str, Any]]]) -> Any:
        for kind, pod in events:
            name = pod["metadata"]["name"]
            if kind == "DELETED":
                return self._on_deleted(pod)
            self.pods[name] = pod
            outcome = self._on_pod(pod)
            if outcome is not _CONTINUE:
                return outcome
        return _CONTINUE

    def _on_deleted(self, pod: dict[str, Any]) -> str | None:
        """Why the pod is gone, or going (deletionTimestamp set): its own status where it says more than an exit
        code (evicted, node lost, OOM), the Job's deadline or the Job's deletion, its node's loss, a crash of its
        own, or else someone deleted it. A deleted pod's exit code (143 after SIGTERM, 137 after SIGKILL) and the
        BackoffLimitExceeded its Job then shows are what the deletion did, not why the run ended — whatever order
        the pod's and the Job's updates arrive in."""
        self.pods.pop(pod["metadata"]["name"], None)
        if _phase(pod) == "Succeeded":
            self._drain_log()
            return None
        own = diagnose_pod(pod, 0.0, math.inf, math.inf)
        if own is not None and _taint_evicted(pod):  # node lost, or a NoExecute taint: the node says which
            own = self._taint_eviction(pod) or own
        if own is not None and own.fatal and own.kind != "crash":
            self.node_lost |= own.kind == "node-lost"
            self._drain_log()
            return own.message
        job = self._job_diagnosis()
        if job is not None and job.kind in ("deadline", "deleted"):
            self._drain_log()
            return job.message
        node = (pod.get("spec") or {}).get("nodeName")
        lost = self._node_lost(node) if node else None
        if lost:
            self.node_lost = True
            self._drain_log()
            return lost
        self._drain_log()
        if own is not None and own.kind == "crash" and _exit_code(pod) not in (None, 137, 143):
            return self._crash_reason(own)  # it had crashed by itself before it was deleted
        return pod_deleted_message(pod)

    def _on_pod(self, pod: dict[str, Any]) -> Any:
        name = pod["metadata"]["name"]
        node = (pod.get("spec") or {}).get("nodeName")
        if node and ("scheduled", name) not in self.first_seen:
            self.first_seen[("scheduled", name)] = time.monotonic()
            self.say(f"pod {name} scheduled on node {node}")
        if self._started(pod):
            self._start_log(name)
        phase = _phase(pod)
        if phase == "Succeeded":
            self._drain_log()
            return None
        if pod["metadata"].get("deletionTimestamp") or _taint_evicted(pod):
            return self._on_deleted(pod)  # being deleted: why, before its exit code (143 or 137) says "crash"
        diagnosis = self._diagnose(pod)
        if diagnosis is not None and diagnosis.fatal:
            self.node_lost |= diagnosis.kind == "node-lost"
            if phase == "Failed" or diagnosis.kind == "oom":
                self._drain_log()
                if diagnosis.kind == "crash":
                    return self._crash_reason(diagnosis)
            return diagnosis.message
        return _CONTINUE

    def _diagnose(self, pod: dict[str, Any]) -> Diagnosis | None:
        name = pod["metadata"]["name"]
        probe = diagnose_pod(pod, 0.0, math.inf, math.inf)
        if probe is None:
            return None
        key = (name, probe.kind)
        now = time.monotonic()
        waited = now - self.first_seen.setdefault(key, now)
        diagnosis = diagnose_pod(pod, waited, self.c.unschedulable_grace_s, self.c.image_pull_grace_s)
        if diagnosis is not None and not diagnosis.fatal and probe.kind not in self.announced:
            self.announced.add(probe.kind)
            grace = self.c.unschedulable_grace_s if probe.kind == "unschedulable" else self.c.image_pull_grace_s
            self.say(f"waiting (gives up after {grace:.0f} s): {diagnosis.message}")
        return diagnosis

    def _check_job_and_grace(self) -> Any:
        job = self._job_diagnosis()
        if job is not None:
            if job.kind == "crash":  # the Job failed because its pod did, or its pod was deleted: the pod says which
                listing = self._list_pods()
                events = [("MODIFIED", p) for p in listing]
                self._forget_missing({p["metadata"]["name"] for p in listing}, events)
                outcome = self._handle(events)
                if outcome is not _CONTINUE:
                    return outcome
            self._drain_log()
            return job.message
        if not self.pods:
            outcome = self._check_pod_creation()
            if outcome is not _CONTINUE:
                return outcome
        for pod in list(self.pods.values()):
            outcome = self._on_pod(pod)
            if outcome is not _CONTINUE:
                return outcome
            node = (pod.get("spec") or {}).get("nodeName")
            if node and _phase(pod) in ("Pending", "Running"):
                lost = self._node_lost(node)
                if lost:
                    self.node_lost = True
                    self._drain_log()
                    return lost
        return _CONTINUE

    def _check_pod_creation(self) -> Any:
        """No pod yet: whether the Job controller reports that it cannot create one (FailedCreate warnings on the
        Job: an unknown RuntimeClass or ServiceAccount, a quota, Pod Security), within a watch window."""
        from kubernetes.client.exceptions import ApiException

        if not self.events_readable:
            return _CONTINUE
        try:
            events = self.x._raw(self.x._core().list_namespaced_event(
                self.c.namespace, field_selector=f"involvedObject.kind=Job,involvedObject.name={self.m.name}",
                _preload_content=False))["items"]
        except ApiException as exc:
            if exc.status in (401, 403, 404):  # events not readable here: the run's timeout ends it; asked once
                self.events_readable = False
                why = forbidden_message(exc) or f"cannot read the Job's events ({exc.status})"
                self.say(f"{why}; a pod that cannot be created is only noticed at the timeout")
            return _CONTINUE
        probe = diagnose_failed_create(events, 0.0, math.inf)
        if probe is None:
            return _CONTINUE
        now = time.monotonic()
        waited = now - self.first_seen.setdefault(("job", "create"), now)
        diagnosis = diagnose_failed_create(events, waited, self.c.unschedulable_grace_s)
        if diagnosis is not None and diagnosis.fatal:
            return diagnosis.message
        if "create" not in self.announced:
            self.announced.add("create")
            self.say(f"waiting (gives up after {self.c.unschedulable_grace_s:.0f} s): {probe.message}")
        return _CONTINUE

    def _taint_eviction(self, pod: dict[str, Any]) -> Diagnosis | None:
        from kubernetes.client.exceptions import ApiException

        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return None
        try:
            return describe_taint_eviction(self.x._raw(self.x._core().read_node(node, _preload_content=False)))
        except ApiException:  # removed, or nodes not readable: the pod's own condition says node lost
            return None

    def _list_pods(self) -> list[dict[str, Any]]:
        listing = self.x._raw(self.x._core().list_namespaced_pod(
            self.c.namespace, label_selector=self.selector, _preload_content=False))
        return list(listing["items"])

    def _job_diagnosis(self) -> Diagnosis | None:
        from kubernetes.client.exceptions import ApiException

        try:
            job = self.x._raw(self.x._batch().read_namespaced_job(self.m.name, self.c.namespace,
                                                                  _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return Diagnosis("the Job was deleted mid-run by someone or something else", True, "deleted")
            raise
        return diagnose_job(job)

    def _node_lost(self, node: str) -> str | None:
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.x._raw(self.x._core().read_node(node, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return f"node lost: {node} was removed from the cluster while the pod ran there"
            return None  # no permission to read nodes: the pod's own status will tell
        return describe_node_loss(found)

    @staticmethod
    def _started(pod: dict[str, Any]) -> bool:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            state = cs.get("state") or {}
            if "running" in state or "terminated" in state:
                return True
        return False

    # -- logs

    def _start_log(self, pod: str) -> None:
        if self.log_thread is not None:
            return
        self.log_thread = threading.Thread(target=self._pump_log, args=(pod,), daemon=True, name=f"log-{pod}")
        self.log_thread.start()

    def _pump_log(self, pod: str) -> None:
        try:
            response = self.x._core().read_namespaced_pod_log(
                pod, self.c.namespace, container="bench", follow=True, _preload_content=False)
        except Exception as exc:
            self.say(forbidden_message(exc) or f"cannot follow the log of {pod}: {_short(exc)}")
            return
        buffer = b""
        with open(self.log_path, "a", encoding="utf-8") as log:
            try:
                for chunk in response.stream(amt=None, decode_content=False):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        self._line(line.decode("utf-8", errors="replace"), log)
                if buffer:
                    self._line(buffer.decode("utf-8", errors="replace"), log)
            except Exception as exc:  # the stream broke (pod deleted, connection lost): keep what we have
                log.write(f"[kubernetes] log stream ended: {_short(exc)}\n")
            finally:
                response.release_conn()

    def _line(self, line: str, log: Any) -> None:
        if self.secret:
            line = line.replace(self.secret, "***")
        log.write(line + "\n")
        log.flush()
        if line.startswith(RESULT_PREFIX):
            self._keep_result(line[len(RESULT_PREFIX):])
            return
        self.echo(line)
        if line.strip():
            self.tail.append(line.strip())

    def _keep_result(self, text: str) -> None:
        try:
            result = Result.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            self.say(f"unreadable result line ignored: {_short(exc)}")
            return
        with self._lock:
            self.results[result.key] = result.to_dict()
            tmp = self.raw.with_suffix(".tmp")
            tmp.write_text(json.dumps(list(self.results.values()), indent=2) + "\n")
            os.replace(tmp, self.raw)

    def _drain_log(self) -> None:
        """Wait for the log stream's last lines (briefly when the node is lost: its kubelet sends no more)."""
        if self.log_thread is not None:
            self.log_thread.join(timeout=NODE_LOST_DRAIN_S if self.node_lost else LOG_DRAIN_S)

    def _crash_reason(self, diagnosis: Diagnosis) -> str:
        errors = [line for line in self.tail if line.startswith("error:")]
        return f"{diagnosis.message}; last error: {errors[-1]}" if errors else diagnosis.message

    # -- cleanup

    def cleanup(self) -> None:
        """Delete the Job (its pods with it) and the ConfigMap; never raises."""
        if self.cleaned or not self.submitted:
            return
        self.cleaned = True
        from kubernetes import client

        ns = self.c.namespace
        body = client.V1DeleteOptions(propagation_policy="Foreground", grace_period_seconds=5)
        steps = (
            (f"Job {self.m.name}", lambda: self.x._batch().delete_namespaced_job(
                self.m.name, ns, body=body, _preload_content=False)),
            (f"ConfigMap {self.m.name}", lambda: self.x._core().delete_namespaced_config_map(
                self.m.name, ns, _preload_content=False)),
        )
        delete_each(steps, self.say)
        if self.node_lost:
            self._force_delete_pods()
        self.say(f"deleted Job {ns}/{self.m.name} and its pods")
        if self.log_thread is not None:
            self.log_thread.join(timeout=5)

    def _force_delete_pods(self) -> None:
        """Pods on a lost node stay Terminating (no kubelet confirms they stopped), and with them the Job being
        deleted in the foreground: delete them without the grace period (`kubectl delete pod --force`)."""
        from kubernetes import client

        ns = self.c.namespace
        try:
            for pod in self._list_pods():
                name = pod["metadata"]["name"]
                with contextlib.suppress(Exception):
                    self.x._core().delete_namespaced_pod(
                        name, ns, body=client.V1DeleteOptions(grace_period_seconds=0), _preload_content=False)
                    self.say(f"force-deleted pod {name} (its node is lost)")
        except Exception as exc:
            self.say(f"could not force-delete the pods of {self.m.name} on the lost node ({_short(exc)}); "
                     f"kubectl -n {ns} delete pod --force -l {self.selector}")


_CONTINUE = object()


def watch_expired(error: BaseException | Mapping[str, Any]) -> bool:
    """Whether a watch ended because its resourceVersion is too old (410 Gone, reason Expired): re-list and resume
    from the list's version. Recognised in each form a `kubernetes` client delivers it: ApiException with status 410
    (a deserializing `watch.Watch`, or a 410 response), an ERROR event whose object is a Status with code 410 (a
    dict, or a V1Status model), and KeyError('raw_object') — what `watch.Watch(...).stream(deserialize=False)`
    raises for any ERROR event, its code unread (re-listing is the recovery for that too)."""
    if isinstance(error, Mapping):
        obj = _event_object(error) if error.get("type") == "ERROR" else error
        code = obj.get("code") if isinstance(obj, Mapping) else getattr(obj, "code", None)
        return _int(code) == 410
    if isinstance(error, KeyError):
        return error.args == ("raw_object",)
    return getattr(error, "status", None) == 410 and hasattr(error, "reason")


def _event_object(event: Mapping[str, Any]) -> Any:
    """A watch event's object as a dict where there is one (`raw_object` when the client added it)."""
    obj = event.get("raw_object", event.get("object"))
    if obj is not None and not isinstance(obj, Mapping) and hasattr(obj, "to_dict"):
        return obj.to_dict()
    return obj if obj is not None else {}


def _status_text(status: Any) -> str:
    if isinstance(status, Mapping):
        return f"{status.get('code')} {status.get('reason')}: {status.get('message')}"
    return str(status)


def _taint_evicted(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "DisruptionTarget" and c.get("reason") == "DeletionByTaintManager"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _node_unfit(node: dict[str, Any], selector: Mapping[str, str], tolerations: list[dict[str, Any]]) -> str | None:
    """Why the scheduler would not place a pod of these nodeSelector and tolerations on `node`, or None (GPUs
    aside)."""
    labels = node["metadata"].get("labels") or {}
    unmatched = [f"{k}={v}" for k, v in selector.items() if labels.get(k) != v]
    if unmatched:
        return f"does not match nodeSelector {','.join(unmatched)}"
    if (node.get("spec") or {}).get("unschedulable"):
        return "cordoned (spec.unschedulable)"
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") != "True":
        return f"not Ready ({(ready or {}).get('reason') or 'no Ready condition'})"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not any(_tolerates(t, taint) for t in tolerations):
            value = f"={taint['value']}" if taint.get("value") else ""
            return f"untolerated taint {taint.get('key')}{value}:{taint.get('effect')} (add a toleration)"
    return None


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """The scheduler's rule (k8s.io/api core/v1 Toleration.ToleratesTaint)."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    return bool(toleration.get("key")) and toleration.get("value", "") == taint.get("value", "")


def _pod_gpus(pod: dict[str, Any]) -> int:
    """A pod's nvidia.com/gpu request: its containers' sum, or its largest init container's if more (an extended
    resource's request defaults to its limit)."""
    spec = pod.get("spec") or {}

    def wanted(container: Mapping[str, Any]) -> int:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        return _int(requests.get(GPU_RESOURCE, limits.get(GPU_RESOURCE)))

    return max(sum(wanted(c) for c in spec.get("containers") or []),
               max((wanted(c) for c in spec.get("initContainers") or []), default=0))


def _exit_code(pod: dict[str, Any]) -> int | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if "exitCode" in terminated:
            return _int(terminated["exitCode"])
    return None


def _phase(pod: dict[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase") or "Unknown"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _short(exc: BaseException) -> str:
    """One line: for an API error its status, reason and the server's message, not the headers."""
    status = getattr(exc, "status", None)
    if status is not None and hasattr(exc, "body"):
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            message = ""
        return f"{status} {getattr(exc, 'reason', '')}" + (f": {message}" if message else "")
    text = " ".join(str(exc).split())
    return (text[:300] + "…") if len(text) > 300 else text
