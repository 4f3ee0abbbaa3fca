"""A serving group on Kubernetes: the vLLM server as a Deployment + ClusterIP Service, the load client as the group's
Job reaching it by the Service's cluster DNS name. Manifests against the Kubernetes 1.33 schemas; then end to end
through the stand-in API server, whose kubelet runs the server container as tests/standins/fake_openai.py (the
stand-in substitution for vLLM), probes it, restarts it, and gives the client pod cluster DNS (standin_dns/)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bench.config import RunGroup, Task
from bench.executors.k8s_manifests import KubernetesConfig, render_group
from bench.executors.kubernetes import KubernetesExecutor
from bench.results.rundir import RunDirectory

from .conftest import NAMESPACE, standin_nodes
from .provisioned import SERVICE_ACCOUNT, assert_requests_listed, executor_requests, provision, without
from .standin_apiserver import StandInAPIServer

K8S_VERSION = "1.33"
TIME_SCALE = 0.05  # the stand-in kubelet's probe periods and back-offs ×0.05: a 10 s startup period is 0.5 s
CLIENT = {"num_requests": 6, "concurrency": "2", "warmup_requests": 1, "input_len": 8, "output_len": 4,
          "request_timeout_s": 20.0}


def serving_group(model: str, timeout_s: int = 120, **params) -> RunGroup:
    return RunGroup(name="serving", profile="tiny", model=model, engine={"max_model_len": 256},
                    tasks=[Task("serving", "concurrency", {**CLIENT, **params})], timeout_s=timeout_s,
                    served_model="tiny-llama")


def assert_nothing_left(cluster: StandInAPIServer) -> None:
    kinds = ("deployments", "services", "jobs", "pods", "configmaps")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (any(cluster.items(k) for k in kinds) or cluster.processes_alive()):
        time.sleep(0.1)
    assert {k: [o["metadata"]["name"] for o in cluster.items(k)] for k in kinds} == {k: [] for k in kinds}
    assert cluster.processes_alive() == []


@pytest.fixture
def cluster() -> Iterator[StandInAPIServer]:
    server = StandInAPIServer(standin_nodes(), time_scale=TIME_SCALE).start()
    yield server
    try:
        assert_nothing_left(server)
    finally:
        server.stop()
    assert_requests_listed(server)


@pytest.fixture(scope="session")
def tiny_model() -> str:
    """The built-in tiny model's directory, built once on this machine: the server pod resolves it at once, and the
    client builds its prompts with its tokenizer (the fake server ignores the weights)."""
    from bench.models.tiny import ensure_tiny_model

    return str(ensure_tiny_model(log=lambda _: None))


@pytest.fixture
def model_dir(tiny_model: str) -> str:
    return tiny_model


@pytest.fixture
def serving_config(k8s_config: KubernetesConfig) -> KubernetesConfig:
    k8s_config.server_startup_s = 60  # the minimum: startup failureThreshold 6 × 10 s (0.5 s in the stand-in)
    return k8s_config


def run_serving(config: KubernetesConfig, run_dir: RunDirectory, group: RunGroup, lines: list[str] | None = None,
                cancel: threading.Event | None = None):
    lines = [] if lines is None else lines
    return KubernetesExecutor(config, environ={}).run(group, run_dir, lines.append, cancel)


def created(cluster: StandInAPIServer, plural: str) -> list[dict]:
    return [o for _, p, t, o in cluster.history if p == plural and t == "ADDED"]


# ---- manifests --------------------------------------------------------------------------------------------------

def test_server_deployment_service_and_client_job_validate_and_carry_what_serving_needs() -> None:
    config = KubernetesConfig(namespace="mlperf", gpus=2, runtime_class="xen-gpu",
                              node_selector={"gpu.example/pool": "a30"}, model_cache_pvc="models",
                              tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}])
    group = serving_group("meta-llama/Llama-3.1-8B-Instruct")
    rendered = render_group(config, group, "20261201-010203-abcd", "v1.33.2")
    assert [o["kind"] for o in rendered.objects()] == ["Deployment", "Service", "ConfigMap", "Job"]
    for obj in rendered.objects():
        assert kubernetes_validate.validate(obj, K8S_VERSION, strict=True) == K8S_VERSION
    deployment, service, job = rendered.deployment, rendered.service, rendered.job
    name = deployment["metadata"]["name"]
    assert name == service["metadata"]["name"] == f"{rendered.name}-srv" and "vllm" not in name
    pod = deployment["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == server["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert pod["enableServiceLinks"] is False and pod["runtimeClassName"] == "xen-gpu"
    assert pod["nodeSelector"] == {"gpu.example/pool": "a30"} and pod["tolerations"] == config.tolerations
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in pod["volumes"]
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "models"}} in pod["volumes"]
    env = {e["name"]: e for e in server["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf-token" and "value" not in env["HF_TOKEN"]
    assert server["startupProbe"] == {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 10,
                                      "timeoutSeconds": 1, "failureThreshold": 60}  # 600 s default budget
    assert server["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    assert (server["readinessProbe"]["periodSeconds"], server["readinessProbe"]["timeoutSeconds"],
            server["readinessProbe"]["failureThreshold"]) == (5, 5, 3)
    assert (server["livenessProbe"]["httpGet"]["path"], server["livenessProbe"]["periodSeconds"],
            server["livenessProbe"]["failureThreshold"]) == ("/health", 20, 3)
    assert deployment["spec"]["progressDeadlineSeconds"] >= 600 and deployment["spec"]["replicas"] == 1
    script = server["command"][2]
    assert "-m vllm.entrypoints.openai.api_server --model \"$BENCH_MODEL\" --served-model-name tiny-llama" in script
    assert "--host 0.0.0.0 --port 8000 --max-model-len 256" in script and "resolve_model" in script
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())
    assert labels["kcloud-mlperf/run-id"] == "20261201-010203-abcd" and labels["kcloud-mlperf/role"] == "server"
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": 8000, "protocol": "TCP"}]
    client = job["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in json.dumps(client["resources"])  # the client is CPU only
    shipped = json.loads(rendered.configmap["data"]["group.json"])
    assert shipped["endpoint"] == f"http://{name}.mlperf.svc.cluster.local:8000"
    assert shipped["served_model"] == "tiny-llama"
    small = render_group(KubernetesConfig(namespace="mlperf", server_startup_s=60), group, "r1").deployment
    assert small["spec"]["template"]["spec"]["containers"][0]["startupProbe"]["failureThreshold"] == 6


def test_an_endpoint_given_deploys_no_server_and_points_the_cpu_only_client_at_it() -> None:
    """`--endpoint URL` on the cluster: the user's in-cluster server is benchmarked as it is."""
    group = dataclasses.replace(serving_group("builtin:tiny-llama"), endpoint="http://my-llm.models:8000",
                                served_model="llama")
    rendered = render_group(KubernetesConfig(namespace="mlperf", gpus=1), group, "r1")
    assert rendered.deployment is None and rendered.service is None
    assert [o["kind"] for o in rendered.objects()] == ["ConfigMap", "Job"]
    client = rendered.job["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in json.dumps(client["resources"])
    shipped = json.loads(rendered.configmap["data"]["group.json"])
    assert (shipped["endpoint"], shipped["served_model"]) == ("http://my-llm.models:8000", "llama")


def test_dry_run_prints_deployment_service_configmap_and_job() -> None:
    executor = KubernetesExecutor(KubernetesConfig(namespace="mlperf"), dry_run=True, environ={"HF_TOKEN": "hf_x1"})
    text = executor.dry_run_yaml([serving_group("builtin:tiny-llama")], "r1")
    assert [d["kind"] for d in yaml.safe_load_all(text)] == ["Deployment", "Service", "ConfigMap", "Job"]
    assert "hf_x1" not in text


# ---- end to end through the stand-in ----------------------------------------------------------------------------

def test_serving_group_end_to_end(cluster, serving_config, run_dir, tmp_path: Path) -> None:
    """Server Ready through its probes, the client Job runs `bench.run serving` against the Service's DNS name,
    results come back, the server's log is kept, and everything is deleted."""
    serving_config.model_cache_host_path = str(tmp_path / "cache")  # the tiny model is built in the server pod
    serving_config.server_startup_s = 1200  # building it takes a while: 120 startup probes (60 s in the stand-in)
    lines: list[str] = []
    results = run_serving(serving_config, run_dir, serving_group("builtin:tiny-llama"), lines)
    assert [r.key for r in results] == ["serving/concurrency"]
    assert results[0].error is None, results[0].error
    assert results[0].metrics, results[0]
    assert any("Ready after" in line for line in lines), lines
    deployment = created(cluster, "deployments")[0]
    endpoint = f"http://{deployment['metadata']['name']}.{NAMESPACE}.svc.cluster.local:8000"
    assert json.loads(created(cluster, "configmaps")[0]["data"]["group.json"])["endpoint"] == endpoint
    pod = created(cluster, "pods")[0]
    assert pod["metadata"]["name"].startswith(deployment["metadata"]["name"] + "-")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    server_log = (run_dir.logs / "serving-server.log").read_text()
    assert "tiny model" in server_log or "fake" in server_log.lower()
    assert endpoint in (run_dir.logs / "serving.log").read_text()
    saved = list(yaml.safe_load_all((run_dir.manifests / "serving.yaml").read_text()))
    assert [d["kind"] for d in saved] == ["Deployment", "Service", "ConfigMap", "Job"]


def test_gpu_conflict_names_the_pods_holding_the_gpus_and_creates_nothing(cluster, serving_config, run_dir,
                                                                         model_dir) -> None:
    cluster.add_running_pod("default", "train-0", "gpu-a30-1", gpus=1)
    results = run_serving(serving_config, run_dir, serving_group(model_dir))
    error = results[0].error
    print("DIAGNOSIS gpu-conflict:", error)
    assert error.startswith("no node has 1 free nvidia.com/gpu for the vLLM server: gpu-a30-1: 1/1 held by "
                            "default/train-0 (1); nothing was created")
    assert not [(m, p) for m, p in cluster.requests if m == "POST"]
    cluster.delete_pod("default", "train-0", 0)


def test_no_gpu_node_is_diagnosed_before_anything_is_created(cluster, serving_config, run_dir, model_dir) -> None:
    serving_config.node_selector = {"gpu.example/pool": "none"}
    error = run_serving(serving_config, run_dir, serving_group(model_dir))[0].error
    print("DIAGNOSIS no-gpu-node:", error)
    assert error.startswith("cluster cannot run this: each Job requests 1 nvidia.com/gpu")
    assert not [(m, p) for m, p in cluster.requests if m == "POST"]


def test_unschedulable_server_pod_is_diagnosed(cluster, serving_config, run_dir, model_dir, monkeypatch) -> None:
    """The GPU taken between the check and the scheduling (the check passes, the scheduler finds no room)."""
    monkeypatch.setattr(KubernetesExecutor, "check_server_gpus", lambda self, echo: None)
    cluster.add_running_pod("default", "train-0", "gpu-a30-1", gpus=1)
    error = run_serving(serving_config, run_dir, serving_group(model_dir))[0].error
    print("DIAGNOSIS server-unschedulable:", error)
    assert error.startswith("the vLLM server pod: unschedulable: not enough free nvidia.com/gpu")
    assert not created(cluster, "jobs")
    cluster.delete_pod("default", "train-0", 0)


def test_server_image_pull_error_is_diagnosed(cluster, serving_config, run_dir, model_dir) -> None:
    serving_config.image = "registry.local/does-not-exist:1.0"
    error = run_serving(serving_config, run_dir, serving_group(model_dir))[0].error
    print("DIAGNOSIS server-image-pull:", error)
    assert error.startswith("the vLLM server pod: image pull failed (")
    assert "registry.local/does-not-exist:1.0" in error
    assert not created(cluster, "jobs")


def test_crash_looping_server_quotes_its_last_log_lines(cluster, serving_config, run_dir, model_dir) -> None:
    cluster.fake_server_args = ["--fake-ttft-ms", "not-a-number"]  # the server exits at once (argparse: code 2)
    error = run_serving(serving_config, run_dir, serving_group(model_dir))[0].error
    print("DIAGNOSIS server-crash:", error)
    assert error.startswith("the vLLM server container exited with code 2 before it was ready")
    assert "last lines of the server's log:" in error and "invalid float value" in error
    assert not created(cluster, "jobs")
    assert "invalid float value" in (run_dir.logs / "serving-server.log").read_text()


def test_server_that_never_gets_healthy_is_a_startup_probe_diagnosis(cluster, serving_config, run_dir,
                                                                      model_dir) -> None:
    cluster.fake_server_args = ["--fake-startup-s", "60"]  # /health 503 for longer than the 60 s budget
    error = run_serving(serving_config, run_dir, serving_group(model_dir))[0].error
    print("DIAGNOSIS startup-probe:", error)
    assert error.startswith("the vLLM server did not answer its startup probe (/health) within 60 s")
    assert "Startup probe failed: HTTP probe failed with statuscode: 503" in error
    assert any(e["reason"] == "Unhealthy" for e in created(cluster, "events"))


def test_server_dying_mid_run_fails_the_results_and_the_suite_goes_on(cluster, serving_config, run_dir,
                                                                      model_dir) -> None:
    cluster.fake_server_args = ["--fake-die-after", "4"]
    results = run_serving(serving_config, run_dir, serving_group(model_dir, num_requests=40))
    error = results[0].error
    print("DIAGNOSIS server-died:", error)
    assert not results[0].passed
    assert "the vLLM server restarted while the client ran" in error and "dying after 4" in error
    assert_nothing_left(cluster)
    cluster.fake_server_args = []
    again = run_serving(serving_config, run_dir, serving_group(model_dir))
    assert again[0].error is None, again[0].error


@pytest.mark.parametrize("when", ["readiness", "client"])
def test_cancel_deletes_deployment_service_job_and_pods(cluster, serving_config, run_dir, model_dir,
                                                        when: str) -> None:
    if when == "readiness":
        cluster.fake_server_args = ["--fake-startup-s", "60"]
    cancel = threading.Event()

    def press_ctrl_c() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pods = [p for p in cluster.items("pods") if p["status"].get("phase") == "Running"]
            if when == "readiness" and pods:
                break
            if when == "client" and any("job-name" in p["metadata"].get("labels", {}) for p in pods):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        cancel.set()

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    group = serving_group(model_dir, num_requests=200, concurrency="1")
    with pytest.raises(KeyboardInterrupt):
        run_serving(serving_config, run_dir, group, cancel=cancel)
    assert created(cluster, "jobs") if when == "client" else not created(cluster, "jobs")
    saved = json.loads((run_dir.path / "results.json").read_text())
    assert saved[-1]["error"].startswith("interrupted (Ctrl-C)")
    assert "Deployment, pods and Service deleted" in saved[-1]["error"]


# ---- RBAC: what roles/benchmark_namespace grants is what a serving run needs -------------------------------------

@pytest.fixture
def rbac_cluster() -> Iterator[StandInAPIServer]:
    """The stand-in over TLS (in-cluster needs https), enforcing RBAC for service account tokens."""
    server = StandInAPIServer(standin_nodes(), tls=True, time_scale=TIME_SCALE).start()
    yield server
    try:
        assert_nothing_left(server)
    finally:
        server.stop()


def run_as_service_account(server: StandInAPIServer, token: str, tmp_path: Path, run_dir: RunDirectory,
                           group: RunGroup, lines: list[str]):
    from .test_incluster import in_cluster_config, in_pod_environ, service_account

    sa = service_account(tmp_path / f"sa-{len(list(tmp_path.iterdir()))}", server.ca_cert, token)
    config = dataclasses.replace(in_cluster_config(), server_startup_s=60, unschedulable_grace_s=2.0)
    executor = KubernetesExecutor(config, environ=in_pod_environ(server), service_account_dir=sa)
    return executor.run(group, run_dir, lines.append)


def test_a_serving_run_under_the_provisioned_role_succeeds(rbac_cluster, run_dir, tmp_path: Path,
                                                           model_dir) -> None:
    token = provision(rbac_cluster, NAMESPACE)
    lines: list[str] = []
    results = run_as_service_account(rbac_cluster, token, tmp_path, run_dir, serving_group(model_dir), lines)
    assert results[0].error is None, results[0].error
    assert not [line for line in lines if "may not" in line or "skipping" in line or "could not" in line], lines
    asked = {(r.group, r.resource, r.verb) for r in executor_requests(rbac_cluster)}
    assert {("apps", "deployments", v) for v in ("create", "get", "list", "watch", "delete")} <= asked
    assert {("", "services", v) for v in ("create", "get", "delete")} <= asked
    assert ("", "pods", "list") in asked and ("", "pods/log", "get") in asked
    assert_requests_listed(rbac_cluster)


@pytest.mark.parametrize(("group", "resource", "verb"), [("apps", "deployments", "create"),
                                                         ("", "services", "create")],
                         ids=["deployments-create", "services-create"])
def test_a_missing_serving_rule_is_one_line_naming_it(rbac_cluster, run_dir, tmp_path: Path, model_dir, group: str,
                                                      resource: str, verb: str) -> None:
    token = provision(rbac_cluster, NAMESPACE, lambda objects: without(objects, group, resource, verb))
    lines: list[str] = []
    results = run_as_service_account(rbac_cluster, token, tmp_path, run_dir, serving_group(model_dir), lines)
    user = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
    assert results[0].error == (f"the service account {user} may not {verb} {resource} in namespace {NAMESPACE}: add "
                                f'{{apiGroups: ["{group}"], resources: ["{resource}"], verbs: ["{verb}"]}} to Role '
                                f"{SERVICE_ACCOUNT} (roles/benchmark_namespace)")
