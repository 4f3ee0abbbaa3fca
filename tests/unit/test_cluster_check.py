"""check_cluster's messages for the cases the end-to-end tests (tests/e2e/test_cluster_up_front.py) leave out: where
the kubeconfig comes from when --kubeconfig is not given, a server that speaks no TLS, credentials it rejects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("kubernetes", reason="the kubernetes executor's client: pip install -e '.[k8s]'")

from bench.errors import BenchError
from bench.executors.cluster_check import check_cluster
from bench.executors.k8s_manifests import KubernetesConfig
from bench.executors.kubernetes import KubernetesExecutor
from bench.executors.local import LocalExecutor
from tests.kubeconfigs import serve_version, write_kubeconfig


def executor(kubeconfig: Path | None = None, environ: dict[str, str] | None = None,
             dry_run: bool = False) -> KubernetesExecutor:
    config = KubernetesConfig(kubeconfig=str(kubeconfig) if kubeconfig else None)
    return KubernetesExecutor(config, environ=environ or {}, dry_run=dry_run)


@pytest.fixture
def answering() -> Iterator[tuple[int, list[int]]]:
    """A stand-in API server on plain HTTP that answers GET /version with the status in `status[0]`."""
    status = [200]
    with serve_version(status) as port:
        yield port, status


def test_nothing_to_check_without_a_cluster(tmp_path: Path) -> None:
    check_cluster(LocalExecutor())
    check_cluster(executor(tmp_path / "nope", dry_run=True))


def test_kubeconfig_from_the_environment_and_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BenchError, match=rf"^kubeconfig {tmp_path}/env.conf \(\$KUBECONFIG\) does not exist: pass "):
        check_cluster(executor(environ={"KUBECONFIG": str(tmp_path / "env.conf")}))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(BenchError, match=rf"^no kubeconfig: {tmp_path}/.kube/config does not exist and neither "
                                         r"--kubeconfig nor \$KUBECONFIG is set: pass --kubeconfig PATH"):
        check_cluster(executor())


def test_answering_server_passes(tmp_path: Path, answering: tuple[int, list[int]]) -> None:
    port, _ = answering
    check_cluster(executor(write_kubeconfig(tmp_path / "admin.conf", f"http://127.0.0.1:{port}")))


def test_server_without_tls_and_rejected_credentials(tmp_path: Path, answering: tuple[int, list[int]]) -> None:
    port, status = answering
    https = write_kubeconfig(tmp_path / "tls.conf", f"https://127.0.0.1:{port}")
    with pytest.raises(BenchError, match=rf"^TLS with the Kubernetes API server https://127.0.0.1:{port} failed "
                                         rf"\(.*\): check the server address and the certificate authority in "
                                         rf"kubeconfig {https}$"):
        check_cluster(executor(https))
    status[0] = 401
    plain = write_kubeconfig(tmp_path / "admin.conf", f"http://127.0.0.1:{port}")
    with pytest.raises(BenchError, match=r"rejected the credentials in kubeconfig .*admin.conf \(401 Unauthorized\)"):
        check_cluster(executor(plain))
    status[0] = 403  # answered: the run reports what it may not do
    check_cluster(executor(plain))
