"""End to end: the local executor's variants with real parts — a real benchmark (the tiny profile's resnet50
SingleStream under LoadGen, ~10 s) in a real podman container, under a real `taskset`, and podman's own failures.

Skipped where podman cannot run a container at all, found by running one (the minimal command that works on hosts
like this one, written out here rather than taken from the code under test)."""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.config import RunGroup
from bench.executors import container as podman
from bench.executors.local import LocalExecutor
from bench.results.rundir import RunDirectory
from bench.variants import Variant

PROBE_IMAGE = "localhost/kcloud-mlperf-e2e-probe:empty"


@functools.cache
def podman_unusable() -> str | None:
    """Why podman cannot run a trivial container here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman runc)"
    if subprocess.run(["podman", "image", "exists", PROBE_IMAGE], capture_output=True).returncode != 0:
        made = subprocess.run(["sh", "-c", f"tar -cf - --files-from /dev/null | podman import - {PROBE_IMAGE}"],
                              capture_output=True, text=True)
        if made.returncode != 0:
            return f"podman import failed: {made.stderr.strip()[-300:]}"
    runtime = ["--runtime", "runc"] if podman.find_runtime() else []
    mounts = [a for d in ("/usr", "/etc", "/lib", "/lib64", "/bin") if os.path.exists(d) for a in ("-v", f"{d}:{d}:ro")]
    proc = subprocess.run(["podman", "run", "--rm", *runtime, "--network", "none", "--ulimit", "nofile=4096:4096",
                           "--ulimit", "nproc=8192:8192", *mounts, PROBE_IMAGE, "/bin/true"],
                          capture_output=True, text=True, timeout=120)
    return None if proc.returncode == 0 else f"podman cannot run a container here: {proc.stderr.strip()[-300:]}"


needs_podman = pytest.mark.skipif("podman_unusable() is not None",
                                  reason="podman cannot run a container here (see podman_unusable)")
pytestmark = pytest.mark.e2e


def resnet50_group() -> RunGroup:
    """The tiny profile's resnet50 SingleStream at smoke size: random-weight ResNet-50 on 32×32 images under real
    LoadGen, seconds on a CPU (tests/k8s/test_entrypoint.py says why SingleStream: VALID however busy the machine)."""
    from bench.plan import build_plan
    from bench.profiles import get_profile

    [group] = build_plan([("resnet50", "SingleStream")], get_profile("tiny"))
    return group


def containers_named(prefix: str) -> list[str]:
    out = subprocess.run(["podman", "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True)
    return [n for n in out.stdout.split() if n.startswith(prefix)]


def container_of(lines: list[str]) -> str:
    """The container's name, as the executor announced it."""
    [name] = [m.group(1) for line in lines if (m := re.match(r"\[local\] container (\S+):", line))]
    return name


class AffinityWatch:
    """Watches /proc for the workload process (its command line holds the group's config path; in a container too,
    which the host sees with its own pids) and records the CPUs it may run on, as the kernel has them."""

    def __init__(self, needle: str) -> None:
        self.needle, self.seen, self._stop = needle, set[str](), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> AffinityWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    if "bench.run" in cmdline and self.needle in cmdline and "podman" not in cmdline:
                        status = Path(f"/proc/{pid}/status").read_text()
                        self.seen.add(re.search(r"^Cpus_allowed_list:\s*(\S+)", status, re.M).group(1))
                except (OSError, AttributeError):
                    continue
            time.sleep(0.2)


@needs_podman
def test_a_real_benchmark_passes_inside_a_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`container`: resnet50 SingleStream measured inside podman; the result's host name is the container's (podman
    names it after the container id's first 12 hex digits), not this machine's; a secret in the environment is in
    neither the terminal nor the log; no container is left."""
    monkeypatch.setenv("HF_TOKEN", "hf_e2e_not_to_be_printed")
    run_dir = RunDirectory.create(tmp_path)
    lines: list[str] = []
    executor = LocalExecutor().for_variant(Variant(name="c", container=True))
    start = time.monotonic()
    [result] = executor.run(resnet50_group(), run_dir, lines.append)
    print("took", round(time.monotonic() - start, 1), "s")
    assert result.passed and result.error is None, result.error
    assert result.metrics["result_valid"] == 1.0 and result.metrics["latency_p90_ms"] > 0
    assert result.environment["host"] != platform.node()
    assert re.fullmatch(r"[0-9a-f]{12}", result.environment["host"])
    command = next(line for line in lines if line.startswith("[local] podman run "))
    assert f" {podman.DEFAULT_IMAGE} {sys.executable} -m bench.run resnet50 " in command
    assert " -e HF_TOKEN " in command
    everything = "\n".join(lines) + (run_dir.logs / "resnet50.log").read_text()
    assert "hf_e2e_not_to_be_printed" not in everything
    assert "[bench] resnet50/SingleStream: PASS" in everything
    assert containers_named(container_of(lines)) == []


@pytest.mark.parametrize("container", [False, pytest.param(True, marks=needs_podman)], ids=["host", "container"])
def test_a_taskset_wrapper_pins_the_workload(container: bool, tmp_path: Path) -> None:
    """`wrapper=taskset -c 0`: the workload process itself (watched in /proc while it runs) may use CPU 0 only; in a
    container the wrapper runs inside it, in front of the workload."""
    if shutil.which("taskset") is None:
        pytest.skip("taskset (util-linux) is not installed")
    run_dir = RunDirectory.create(tmp_path)
    variant = Variant(name="c", wrapper=("taskset", "-c", "0"), container=container)
    with AffinityWatch(str(run_dir.path / "configs")) as watch:
        [result] = LocalExecutor().for_variant(variant).run(resnet50_group(), run_dir, lambda _: None)
    assert result.passed, result.error
    assert watch.seen == {"0"}


class Sleeper(LocalExecutor):
    """A workload that never ends, to be timed out."""

    def command(self, group: RunGroup, config: Path, output: Path) -> list[str]:
        return [self.python, "-c", "import time; print('sleeping', flush=True); time.sleep(600)"]


@needs_podman
def test_a_timed_out_container_is_removed(tmp_path: Path) -> None:
    """The workload is the container's PID 1, which ignores the SIGTERM podman forwards: after the grace the
    container is removed and the task fails with the timeout, nothing left behind."""
    group = resnet50_group()
    group.timeout_s = 5
    lines: list[str] = []
    start = time.monotonic()
    executor = Sleeper(kill_grace_s=2.0).for_variant(Variant(name="c", container=True))
    [result] = executor.run(group, RunDirectory.create(tmp_path), lines.append)
    assert time.monotonic() - start < 60
    assert "sleeping" in lines
    name = container_of(lines)
    assert result.error == f"timed out after 5 s (raise it with --timeout); process group killed and container " \
                           f"{name} removed"
    assert containers_named(name) == []


@needs_podman
def test_podman_failing_to_start_is_quoted_in_the_result(tmp_path: Path) -> None:
    """An image podman cannot get (no registry is reachable here): the result's error is podman's own message."""
    executor = LocalExecutor().for_variant(Variant(name="c", container=True, image="localhost:1/kcloud-no-such:1"))
    lines: list[str] = []
    [result] = executor.run(resnet50_group(), RunDirectory.create(tmp_path), lines.append)
    assert not result.passed
    assert result.error.startswith("podman could not start the container (exit 125): Error: "), result.error
    assert "localhost:1/kcloud-no-such" in result.error
    assert containers_named(container_of(lines)) == []
