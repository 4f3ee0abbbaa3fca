"""The Kubernetes executor as a side of an overhead comparison: a variant's manifests (runtimeClass, volumes, env,
annotations, resources, the pinned node) validated against the 1.33 schemas, Job names that keep repeats apart, and
`preflight_comparison` against the stand-in API server — a RuntimeClass the cluster lacks, a node without free GPUs,
the node picked when none is given — before anything is submitted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest

from bench.errors import ConfigError
from bench.executors.k8s_manifests import job_name
from bench.executors.kubernetes import KubernetesExecutor
from bench.variants import Variant, Volume

from .conftest import NAMESPACE, StandInWorkloadExecutor, make_group
from .provisioned import SERVICE_ACCOUNT, assert_requests_listed, provision, without
from .standin_apiserver import FakeNode, StandInAPIServer
from .test_executor import assert_nothing_left
from .test_manifests import K8S_VERSION, config, group

# The seed site's candidate: the interceptor libcuda.so.1 from the host, a file mounted by hostPath.
INTERCEPTOR = "/opt/kcloud-icpt/lib/libcuda.so.1"


def candidate(host_file: str = "/usr/local/lib/icpt/libcuda.so.1", runtime_class: str = "nvidia") -> Variant:
    return Variant(
        name="candidate", runtime_class=runtime_class,
        env={"LD_LIBRARY_PATH": "/opt/kcloud-icpt/lib", "ICPT_LIB": INTERCEPTOR},
        volumes=(Volume("hostPath", host_file, INTERCEPTOR),
                 Volume("configMap", "icpt-settings", "/etc/icpt", read_only=True),
                 Volume("hostPath", "/var/log/icpt", "/var/log/icpt", read_only=False)),
        annotations={"icpt.example/trace": "off"}, resources={"cpu": "6", "memory": "48Gi"},
        node_selector={"gpu.example/driver": "580"},
    )


def pod_spec(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


# ---- manifests (no cluster) --------------------------------------------------------------------------------------

def test_a_variant_renders_its_overrides_and_validates_against_1_33() -> None:
    base = KubernetesExecutor(config(env={"HTTPS_PROXY": "http://proxy:3128"}))
    side = base.for_variant(candidate(), "gpu-a30-1")
    job = side.render(group(), "20261201-155500-ab12.r02-candidate", "v1.33.2").job
    assert kubernetes_validate.validate(job, K8S_VERSION, strict=True) == K8S_VERSION
    pod = pod_spec(job)
    container = pod["containers"][0]
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["nodeSelector"] == {"gpu.example/pool": "a30", "gpu.example/driver": "580",
                                   "kubernetes.io/hostname": "gpu-a30-1"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    icpt = mounts[INTERCEPTOR]
    assert icpt["readOnly"] is True
    assert volumes[icpt["name"]]["hostPath"] == {"path": "/usr/local/lib/icpt/libcuda.so.1", "type": ""}  # a file
    assert volumes[mounts["/etc/icpt"]["name"]]["configMap"] == {"name": "icpt-settings"}
    assert mounts["/var/log/icpt"]["readOnly"] is False
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LD_LIBRARY_PATH"] == "/opt/kcloud-icpt/lib" and env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["BENCH_VARIANT"] == "candidate" and env["BENCH_RUNTIME_CLASS"] == "nvidia"
    assert job["spec"]["template"]["metadata"]["annotations"] == {"icpt.example/trace": "off"}
    assert job["metadata"]["labels"]["kcloud-mlperf/variant"] == "candidate"
    assert job["spec"]["template"]["metadata"]["labels"]["kcloud-mlperf/variant"] == "candidate"
    assert container["resources"]["requests"] == {"cpu": "6", "memory": "48Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["limits"]["memory"] == "48Gi"
    shown = side.describe()
    assert shown.startswith("kubernetes (variant candidate, namespace mlperf") and "runtimeClass nvidia" in shown
    assert f"volumes hostPath:/usr/local/lib/icpt/libcuda.so.1:{INTERCEPTOR}" in shown
    assert "env HTTPS_PROXY,LD_LIBRARY_PATH,ICPT_LIB" in shown and "proxy:3128" not in shown  # names, not values


def test_a_variant_shares_the_session_and_leaves_the_base_as_it_was() -> None:
    base = StandInWorkloadExecutor("ok", config())
    baseline = base.for_variant(Variant(name="baseline"), "gpu-a30-1")
    side = base.for_variant(Variant(name="candidate", image="registry.local/vllm:icpt"), "gpu-a30-1")
    assert type(side) is StandInWorkloadExecutor and side.mode == "ok"
    assert side._session is base._session is baseline._session  # one client, one Secret, one set of Job slots
    assert base.config.variant is None and base.config.image == "vllm/vllm-openai:v0.32.0"
    assert "kubernetes.io/hostname" not in base.config.node_selector
    assert side.config.image == "registry.local/vllm:icpt" and side.config.runtime_class == "xen-gpu"
    assert baseline.config.variant == "baseline" and baseline.config.node_selector["kubernetes.io/hostname"] == \
        "gpu-a30-1"


@pytest.mark.parametrize(("variant", "message"), [
    (Variant(name="c", wrapper=("taskset", "-c", "0")),
     "variant c: wrapper cannot be applied by the kubernetes executor (it applies: runtime-class, env, volume, "
     "image, node-selector, annotation, resource)"),
    (Variant(name="c", annotations={"bad key!": "x"}), "annotation 'bad key!' is not a valid annotation key"),
    (Variant(name="c", volumes=(Volume("hostPath", "/x", "/dev/shm"),)), "volume hostPath:/x:/dev/shm: mount path"),
    (Variant(name="c", resources={"memory": "lots"}), "memory 'lots' is not a Kubernetes quantity"),
], ids=["local-only-key", "annotation-key", "mount-taken", "memory"])
def test_what_a_variant_cannot_do_is_one_line(variant: Variant, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        KubernetesExecutor(config()).for_variant(variant)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_job_names_keep_every_repeat_apart() -> None:
    """A comparison's repeats run under `<run id>.rNN-<variant>`: each gets its own Job (and ConfigMap), ≤ 63."""
    groups = [group("llm_throughput"), group("resnet50"), group("llm_throughput+mmlu_pro+summarization+long_one"),
              group("llm_throughput+mmlu_pro+summarization+long_two")]
    names = set()
    for run in ("20261201-155500-ab12", "20261201-155501-cd34"):
        for position in range(1, 21):
            for side in ("baseline", "candidate", "icpt-xen-gpu-with-a-long-name"):
                for g in groups:
                    name = job_name(f"{run}.r{position:02d}-{side}", g)
                    assert len(name) <= 63 and name.startswith("bench-") and not name.endswith("-"), name
                    names.add(name)
    assert len(names) == 2 * 20 * 3 * len(groups)
    assert job_name("20261201-155500-ab12.r03-candidate", group()) == (
        "bench-llm-throughput-20261201-155500-ab12-r03-candidate")  # short enough: as before, nothing hashed
    long = job_name("20261201-155500-ab12.r03-candidate", groups[2])
    assert long.endswith("-20261201-155500-ab12-r03-candidate")
    kubernetes_validate.validate(KubernetesExecutor(config()).for_variant(candidate(), "n").render(
        groups[2], "20261201-155500-ab12.r03-icpt-xen-gpu-with-a-long-name").job, K8S_VERSION, strict=True)


# ---- preflight_comparison through the stand-in --------------------------------------------------------------------

def _posts(cluster: StandInAPIServer) -> list[str]:
    return [path for method, path in cluster.requests if method in ("POST", "PUT")]


def test_an_unknown_runtime_class_is_one_line_before_anything_is_submitted(cluster, k8s_config) -> None:
    executor = StandInWorkloadExecutor("ok", k8s_config)
    variants = [Variant(name="baseline"), Variant(name="candidate", runtime_class="xen-gpu-icpt")]
    with pytest.raises(ConfigError) as refused:
        executor.preflight_comparison([make_group()], variants, None)
    print("DIAGNOSIS runtime-class:", refused.value)
    assert str(refused.value) == (
        "variant candidate: RuntimeClass 'xen-gpu-icpt' does not exist on the cluster (it has: nvidia, xen-gpu); "
        "pass runtime-class= one of those, or create it (roles/nvidia_device_plugin creates the site's)")
    assert ("GET", "/apis/node.k8s.io/v1/runtimeclasses") in cluster.requests
    assert _posts(cluster) == [] and cluster.items("jobs") == []


def test_a_node_without_enough_free_gpus_is_refused(cluster, k8s_config) -> None:
    cluster.add_running_pod("someone-elses-namespace", "training", "gpu-a30-1", gpus=1)
    executor = StandInWorkloadExecutor("ok", k8s_config)
    variants = [Variant(name="baseline"), Variant(name="candidate", runtime_class="nvidia")]
    with pytest.raises(ConfigError) as refused:
        executor.preflight_comparison([make_group()], variants, "gpu-a30-1")
    print("DIAGNOSIS node-busy:", refused.value)
    assert str(refused.value) == ("--node gpu-a30-1 cannot run this comparison: 0 nvidia.com/gpu free (1 allocatable, "
                                  "1 requested by its running pods), each Job needs 1")
    assert ("GET", "/api/v1/pods") in cluster.requests  # every namespace's pods on it
    with pytest.raises(ConfigError, match=r"^--node gpu-h100-1 cannot run this comparison: does not match "
                                          r"nodeSelector gpu\.example/pool=a30$"):
        executor.preflight_comparison([make_group()], variants, "gpu-h100-1")
    with pytest.raises(ConfigError, match=r"^--node gpu-b200-9: no such node on the cluster \(it has: cpu-1, "
                                          r"gpu-a30-1, gpu-h100-1\)$"):
        executor.preflight_comparison([make_group()], variants, "gpu-b200-9")
    assert _posts(cluster) == []


def test_no_eligible_node_lists_each_node_and_why(cluster, k8s_config) -> None:
    k8s_config.node_selector, k8s_config.gpus = {}, 2
    executor = StandInWorkloadExecutor("ok", k8s_config)
    with pytest.raises(ConfigError) as refused:
        executor.preflight_comparison([make_group()], [Variant(name="baseline"), Variant(name="candidate",
                                                                                         env={"X": "1"})], None)
    print("DIAGNOSIS no-node:", refused.value)
    assert str(refused.value) == (
        "no node can run both sides of this comparison (cpu-1: 0 nvidia.com/gpu free (0 allocatable, 0 requested by "
        "its running pods), each Job needs 2; gpu-a30-1: 1 nvidia.com/gpu free (1 allocatable, 0 requested by its "
        "running pods), each Job needs 2; gpu-h100-1: untolerated taint dedicated=h100:NoSchedule (add a "
        "toleration)); nothing was submitted")


@pytest.fixture
def pool() -> Iterator[StandInAPIServer]:
    """Four nodes of one pool: the picked node is the one with the most free GPUs, ties by name."""
    server = StandInAPIServer([FakeNode(f"gpu-a30-{i}", gpus=2, labels={"gpu.example/pool": "a30"})
                               for i in (1, 2, 3)] + [FakeNode("gpu-a30-0", gpus=4, labels={"gpu.example/pool": "a30"})
                                                      ]).start()
    yield server
    server.stop()
    assert_requests_listed(server)


def test_the_node_is_picked_when_not_given(pool, k8s_config, kubeconfig_of) -> None:
    k8s_config.kubeconfig = str(kubeconfig_of(pool))
    executor = StandInWorkloadExecutor("ok", k8s_config)
    variants = [Variant(name="baseline"), Variant(name="candidate", runtime_class="nvidia")]
    pool.add_running_pod("other", "big", "gpu-a30-0", gpus=3)  # 1 free there
    pool.add_running_pod("other", "small", "gpu-a30-1", gpus=1)  # 1 free; gpu-a30-2 and -3: 2 free each
    assert executor.preflight_comparison([make_group()], variants, None) == "gpu-a30-2"
    k8s_config.gpus = 0  # a CPU-only comparison is pinned to one node too
    assert executor.preflight_comparison([make_group()], variants, None) == "gpu-a30-2"
    assert _posts(pool) == []


@pytest.fixture
def kubeconfig_of(tmp_path: Path):
    return lambda server: server.kubeconfig(tmp_path / f"kubeconfig-{server.port}")


def test_a_variant_runs_on_the_stand_in_with_its_file_mount(cluster, k8s_config, run_dir, tmp_path: Path) -> None:
    """The candidate's Job on the picked node: the interceptor file (a hostPath file) mounted, its env and
    runtimeClass in the pod the Job controller made, the run's results back, nothing left."""
    interceptor = tmp_path / "host" / "libcuda.so.1"
    interceptor.parent.mkdir()
    interceptor.write_bytes(b"\x7fELF stand-in interceptor")
    base = StandInWorkloadExecutor("ok", k8s_config)
    variant = Variant(name="candidate", runtime_class="nvidia", env=dict(candidate().env),
                      volumes=(Volume("hostPath", str(interceptor), INTERCEPTOR),),
                      annotations={"icpt.example/trace": "off"})
    cluster.taint_node("gpu-a30-1", "unused", "x", effect="PreferNoSchedule")  # a soft taint keeps it eligible
    node = base.preflight_comparison([make_group()], [Variant(name="baseline"), variant], None)
    assert node == "gpu-a30-1"
    side = base.for_variant(variant, node)
    results = side.run(make_group(), run_dir, lambda _: None)
    assert all(r.passed for r in results), [r.error for r in results]
    assert {r.environment["kubernetes"]["node"] for r in results} == {"gpu-a30-1"}
    pod = next(o for _, p, t, o in cluster.history if p == "pods" and t == "ADDED" and "job-name" in o["metadata"][
        "labels"])
    assert pod["spec"]["runtimeClassName"] == "nvidia"
    assert pod["metadata"]["annotations"] == {"icpt.example/trace": "off"}
    assert pod["metadata"]["labels"]["kcloud-mlperf/variant"] == "candidate"
    mount = next(m for m in pod["spec"]["containers"][0]["volumeMounts"] if m["mountPath"] == INTERCEPTOR)
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["hostPath"] == {"path": str(interceptor), "type": ""} and mount["readOnly"] is True
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["LD_LIBRARY_PATH"] == "/opt/kcloud-icpt/lib" and env["BENCH_VARIANT"] == "candidate"
    saved = (run_dir.manifests / "llm_throughput.yaml").read_text()
    assert "kcloud-mlperf/variant: candidate" in saved and "kubernetes.io/hostname: gpu-a30-1" in saved
    assert_nothing_left(cluster)


# ---- under the provisioned role ----------------------------------------------------------------------------------

@pytest.fixture
def rbac_cluster() -> Iterator[StandInAPIServer]:
    server = StandInAPIServer([FakeNode("gpu-a30-1", gpus=1, labels={"gpu.example/pool": "a30"})], tls=True).start()
    yield server
    server.stop()


def _in_cluster(server: StandInAPIServer, token: str, tmp_path: Path) -> StandInWorkloadExecutor:
    from .test_incluster import in_cluster_config, in_pod_environ, service_account

    sa = service_account(tmp_path / f"sa-{len(list(tmp_path.iterdir()))}", server.ca_cert, token)
    return StandInWorkloadExecutor("ok", in_cluster_config(), environ=in_pod_environ(server), service_account_dir=sa)


def test_the_provisioned_role_grants_the_comparison_checks(rbac_cluster, tmp_path: Path) -> None:
    token = provision(rbac_cluster, NAMESPACE)
    variants = [Variant(name="baseline"), Variant(name="candidate", runtime_class="nvidia")]
    assert _in_cluster(rbac_cluster, token, tmp_path).preflight_comparison([make_group()], variants, None) == \
        "gpu-a30-1"
    assert_requests_listed(rbac_cluster)


@pytest.mark.parametrize(("group_", "resource"), [("", "pods"), ("node.k8s.io", "runtimeclasses")],
                         ids=["pods-list", "runtimeclasses-list"])
def test_a_missing_cluster_rule_is_one_line_naming_it(rbac_cluster, tmp_path: Path, group_: str,
                                                      resource: str) -> None:
    edit = _without_cluster_pods if resource == "pods" else lambda objects: without(objects, group_, resource, "list")
    token = provision(rbac_cluster, NAMESPACE, edit)
    variants = [Variant(name="baseline"), Variant(name="candidate", runtime_class="nvidia")]
    with pytest.raises(ConfigError) as refused:
        _in_cluster(rbac_cluster, token, tmp_path).preflight_comparison([make_group()], variants, None)
    user = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
    assert str(refused.value) == (
        f"the service account {user} may not list {resource} (cluster-wide): add {{apiGroups: [\"{group_}\"], "
        f"resources: [\"{resource}\"], verbs: [\"list\"]}} to ClusterRole kcloud-mlperf:{NAMESPACE}:{SERVICE_ACCOUNT} "
        f"(roles/benchmark_namespace)")
    assert_nothing_left(rbac_cluster)


def _without_cluster_pods(objects: list[dict]) -> list[dict]:
    """The ClusterRole's pods list taken out (`without` would take it from the Role too, which also lists pods)."""
    for obj in objects:
        if obj["kind"] == "ClusterRole":
            obj["rules"] = [r for r in obj["rules"] if r["resources"] != ["pods"]]
    return objects
