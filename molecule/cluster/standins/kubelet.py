#!/usr/bin/python3
"""kubelet stand-in (test double) of the Molecule `cluster` scenario, installed as /usr/bin/kubelet.

The real kubelet cannot run in these containers (no kube-apiserver to register with). The kubernetes_packages role
only enables kubelet.service and kubeadm restarts it, so this program answers `--version` and otherwise stays up,
quietly, until systemd stops it. Node registration and status are modelled by the kubeadm/kubectl stand-ins.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path


def main() -> int:
    version = json.loads(Path("/etc/kcloud-standin.json").read_text())["kubernetes_version"]
    if "--version" in sys.argv[1:]:
        print(f"Kubernetes {version}")
        return 0
    print(f"kubelet stand-in {version}: running (no node agent; see the kubectl stand-in)", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
