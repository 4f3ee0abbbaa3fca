"""For tests of what happens before a run reaches its cluster: kubeconfig files pointing at a given server, and a
minimal API server on plain HTTP that answers only `GET /version`."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path


def write_kubeconfig(path: Path, server: str) -> Path:
    """A one-context kubeconfig for `server` with a bearer token that no real cluster accepts."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "site",
        "clusters": [{"name": "site", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "site", "context": {"cluster": "site", "user": "admin"}}],
    }))
    return path


@contextlib.contextmanager
def serve_version(status: list[int] | None = None) -> Iterator[int]:
    """Serve GET /version on a loopback port (yielded) with the HTTP status in `status[0]` (200 by default; the
    caller may change it while serving): the version on 200, a Status object otherwise, 404 for any other path."""
    status = status if status is not None else [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status[0] if self.path.rstrip("/") == "/version" else 404
            version = {"major": "1", "minor": "33", "gitVersion": "v1.33.2"}
            body = json.dumps(version if code == 200 else {"kind": "Status", "code": code}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
