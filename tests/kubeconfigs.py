"""Kubeconfig files for tests that need one pointing at a given server (a closed port, a loopback stand-in)."""

from __future__ import annotations

import json
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
