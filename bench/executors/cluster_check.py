"""Before the first benchmark: can the kubernetes executor reach its cluster?

A kubeconfig that is missing or unreadable, or an API server that does not answer, would otherwise fail every
benchmark group separately (eight failed tests for one wrong path). `check_cluster` turns it into one error up front,
naming the file or the server URL and the fix; pytest reports it as a usage error, `bench run` as `bench: error: …`
(exit 2). The probe is `GET /version` — what the executor asks first — with a short connect timeout and no retries, so
an unreachable address fails in seconds rather than after the client's retries.

Nothing else needs a cluster: the local executor and `--dry-run` are not checked.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.executors.base import Executor
from bench.executors.kubernetes import KubernetesExecutor

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
DEFAULT_KUBECONFIG = Path("~/.kube/config")
FETCHED = "bench bootstrap fetches the admin kubeconfig to <inventory dir>/artifacts/admin.conf"


def check_cluster(executor: Executor) -> None:
    """Raise BenchError (one line: what, where, the fix) unless the executor's cluster answers."""
    if not isinstance(executor, KubernetesExecutor) or executor.dry_run:
        return
    source = kubeconfig_source(executor)
    try:
        api = executor.api_client()  # loads the kubeconfig (or the pod's service account) exactly as the run will
    except BenchError as exc:
        raise BenchError(f"{source}: {exc}") from None
    probe_api_server(api.configuration, source)


def kubeconfig_source(executor: KubernetesExecutor) -> str:
    """Where the configuration comes from, for messages — after checking that a kubeconfig file can be read."""
    given = executor.config.kubeconfig
    from_env = executor.environ.get("KUBECONFIG")
    if not given and executor.environ.get("KUBERNETES_SERVICE_HOST"):
        return "the pod's service account"
    if given:
        path, origin = Path(given).expanduser(), "--kubeconfig"
    elif from_env:
        path, origin = Path(from_env).expanduser(), "$KUBECONFIG"
    else:
        path, origin = DEFAULT_KUBECONFIG.expanduser(), "the default"
    if not path.exists():
        if origin == "the default":
            raise BenchError(f"no kubeconfig: {path} does not exist and neither --kubeconfig nor $KUBECONFIG is set: "
                             f"pass --kubeconfig PATH ({FETCHED})")
        raise BenchError(f"kubeconfig {path} ({origin}) does not exist: pass --kubeconfig with the cluster's "
                         f"kubeconfig ({FETCHED})")
    if path.is_dir():
        raise BenchError(f"kubeconfig {path} ({origin}) is a directory: pass --kubeconfig with the kubeconfig file "
                         f"in it")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise BenchError(f"kubeconfig {path} ({origin}) cannot be read ({exc.strerror}): make it readable by this "
                         f"user (e.g. chmod 600 and chown), or pass --kubeconfig with a readable copy") from None
    return f"kubeconfig {path}"


def probe_api_server(configuration: Any, source: str) -> None:
    """GET /version on the configured server: BenchError naming the URL unless it answers."""
    import urllib3
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    server = configuration.host
    once = copy.copy(configuration)
    once.retries = False  # one attempt: the client's default retries would multiply the connect timeout
    api = client.ApiClient(once)
    fix = "check that the cluster is up and that this is its address (--kubeconfig, --context)"
    try:
        response = client.VersionApi(api).get_code(_request_timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                                                    _preload_content=False)
        response.release_conn()
    except ApiException as exc:
        if exc.status == 0:  # the client's wrapping of a TLS failure
            reason = " ".join(str(exc.reason).split())
            raise BenchError(f"TLS with the Kubernetes API server {server} failed ({reason}): check the server "
                             f"address and the certificate authority in {source}") from None
        if exc.status == 401:
            raise BenchError(f"the Kubernetes API server {server} rejected the credentials in {source} (401 "
                             f"Unauthorized): use a current kubeconfig (fetch the admin kubeconfig again)") from None
        # any other answer: the server is there; what the run may not do is reported by the run
    except urllib3.exceptions.NewConnectionError as exc:
        cause = exc.__cause__
        why = getattr(cause, "strerror", None) or str(cause or exc)
        raise BenchError(f"cannot reach the Kubernetes API server {server} ({source}): {why.lower()}; {fix}") from None
    except urllib3.exceptions.ConnectTimeoutError:
        raise BenchError(f"cannot reach the Kubernetes API server {server} ({source}): no connection within "
                         f"{CONNECT_TIMEOUT_S:g} s; {fix}") from None
    except urllib3.exceptions.ReadTimeoutError:
        raise BenchError(f"the Kubernetes API server {server} ({source}) accepted the connection but did not answer "
                         f"within {READ_TIMEOUT_S:g} s; {fix}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        why = " ".join(str(exc).split())[:200]
        raise BenchError(f"cannot reach the Kubernetes API server {server} ({source}): {why}; {fix}") from None
    finally:
        api.close()

