#!/usr/bin/python3
"""nvidia-smi stand-in (test double) of the Molecule `cluster` scenario: the GPU driver of a GPU worker.

README: "The GPU driver itself must already be installed on GPU workers (`nvidia-smi` works on the host)". The
containers have no GPU, so prepare.yml installs this on the GPU workers only; the kubeadm stand-in asks it how
many GPUs a joining node has, and the kubectl stand-in prints its output as the log of the CUDA probe Job.
Supports `-L` and `--query-gpu=name,driver_version,memory.total --format=csv,noheader`.
"""

from __future__ import annotations

import socket
import sys

GPU = {"name": "NVIDIA Stand-in GPU", "driver_version": "580.00", "memory.total": "81559 MiB"}


def main(argv: list[str]) -> int:
    uuid = f"GPU-standin-{socket.gethostname()}"
    if argv == ["-L"]:
        print(f"GPU 0: {GPU['name']} (UUID: {uuid})")
        return 0
    query = next((a.split("=", 1)[1] for a in argv if a.startswith("--query-gpu=")), None)
    if query is not None and "--format=csv,noheader" in argv:
        fields = {**GPU, "uuid": uuid}
        unknown = [f for f in query.split(",") if f not in fields]
        if unknown:
            print(f'Field "{unknown[0]}" is not a valid field to query.', file=sys.stderr)
            return 2
        print(", ".join(fields[f] for f in query.split(",")))
        return 0
    if argv:
        print(f"nvidia-smi stand-in: unsupported arguments {argv}", file=sys.stderr)
        return 2
    print(f"NVIDIA-SMI stand-in    Driver Version: {GPU['driver_version']}\n  0  {GPU['name']}  {GPU['memory.total']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
