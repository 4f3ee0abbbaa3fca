"""TEST STAND-IN for cluster DNS and kube-proxy, for the stand-in API server's pod processes (standin_apiserver.py
puts this directory on a pod's PYTHONPATH, so Python imports it at start-up). Product code never imports this.

$STANDIN_CLUSTER_DNS is a JSON map `"<svc>.<ns>.svc.cluster.local:<port>" → "127.0.0.1:<local port>"` (and the
shorter names a pod's search path resolves). `socket.getaddrinfo` answers those names with the local address and
port, so every client that resolves through it — urllib, http.client, aiohttp's threaded resolver (asyncio's
`loop.getaddrinfo`) — connects to the process behind the Service; `socket.create_connection` goes through it too.
"""

from __future__ import annotations

import json
import os
import socket

_MAP: dict[str, str] = json.loads(os.environ.get("STANDIN_CLUSTER_DNS") or "{}")
_getaddrinfo = socket.getaddrinfo


def _standin_getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
    name = host.decode() if isinstance(host, bytes) else host
    target = _MAP.get(f"{name}:{port}")
    if target is not None:
        local_host, _, local_port = target.rpartition(":")
        return _getaddrinfo(local_host, int(local_port), *args, **kwargs)
    return _getaddrinfo(host, port, *args, **kwargs)


if _MAP:
    socket.getaddrinfo = _standin_getaddrinfo
