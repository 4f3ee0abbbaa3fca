"""In a pod: no --kubeconfig, KUBERNETES_SERVICE_HOST/PORT set and the service account's token and CA mounted — the
executor reaches the API server over TLS it verifies against that CA, with that token, and may do what the
provisioning role grants that account (the stand-in enforces RBAC for it; test_rbac.py has the refusals)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.executors.k8s_manifests import KubernetesConfig

from .conftest import NAMESPACE, StandInWorkloadExecutor, make_group, standin_nodes
from .provisioned import HARNESS_TOKEN, executor_requests, provision
from .standin_apiserver import StandInAPIServer
from .test_executor import assert_nothing_left

SA_TOKEN = "standin-service-account-token"


@pytest.fixture
def tls_cluster() -> Iterator[StandInAPIServer]:
    server = StandInAPIServer(standin_nodes(), tls=True).start()
    provision(server, NAMESPACE, token=SA_TOKEN)  # roles/benchmark_namespace's objects, SA_TOKEN its account's
    yield server
    server.stop()


def service_account(directory: Path, ca_cert: Path, token: str = SA_TOKEN) -> Path:
    """What Kubernetes mounts at /var/run/secrets/kubernetes.io/serviceaccount."""
    directory.mkdir()
    (directory / "token").write_text(token)
    (directory / "ca.crt").write_bytes(ca_cert.read_bytes())
    (directory / "namespace").write_text(NAMESPACE)
    return directory


def in_pod_environ(server: StandInAPIServer) -> dict[str, str]:
    return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.port)}


def in_cluster_config() -> KubernetesConfig:
    return KubernetesConfig(namespace=NAMESPACE, gpus=1, node_selector={"gpu.example/pool": "a30"}, memory="2Gi",
                            cpu="1", poll_s=0.5)


def test_in_cluster_service_account_reaches_the_api_server(tls_cluster, run_dir, tmp_path: Path) -> None:
    assert tls_cluster.url.startswith("https://") and tls_cluster.ca_cert is not None
    executor = StandInWorkloadExecutor("ok", in_cluster_config(), environ=in_pod_environ(tls_cluster),
                                       service_account_dir=service_account(tmp_path / "sa", tls_cluster.ca_cert))
    results = executor.run(make_group(), run_dir, lambda _: None)
    assert all(r.passed for r in results), [r.error for r in results]
    assert tls_cluster.bearer_tokens - {HARNESS_TOKEN} == {SA_TOKEN}
    assert {r.user for r in executor_requests(tls_cluster)} == {f"system:serviceaccount:{NAMESPACE}:bench-runner"}
    assert ("POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs") in tls_cluster.requests
    assert_nothing_left(tls_cluster)


def test_in_cluster_verifies_the_server_against_the_mounted_ca(tls_cluster, run_dir, tmp_path: Path) -> None:
    other = StandInAPIServer([], tls=True)  # another CA: its ca.crt must not vouch for this server
    try:
        sa = service_account(tmp_path / "sa", other.ca_cert)
    finally:
        other.httpd.server_close()
    executor = StandInWorkloadExecutor("ok", in_cluster_config(), environ=in_pod_environ(tls_cluster),
                                       service_account_dir=sa)
    error = executor.run(make_group(), run_dir, lambda _: None)[0].error
    print("DIAGNOSIS in-cluster wrong CA:", error)
    assert error.startswith("cannot reach the Kubernetes API server: ") and "CERTIFICATE_VERIFY_FAILED" in error
    assert tls_cluster.items("jobs") == []


def test_in_cluster_without_a_token_is_one_line(run_dir, tmp_path: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    executor = StandInWorkloadExecutor("ok", in_cluster_config(), environ=environ,
                                       service_account_dir=tmp_path / "missing")
    error = executor.run(make_group(), run_dir, lambda _: None)[0].error
    assert error == ("cannot load the Kubernetes configuration (Service token file does not exist.); pass "
                     "--kubeconfig PATH and --context NAME, or run in a pod with a service account")
