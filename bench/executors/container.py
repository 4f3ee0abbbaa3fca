"""The podman mechanics of the local executor's `container` variant: the same interpreter, virtualenv and checkout
run the same workload, inside a container.

What the container gets, and why:

- **image**: by default `localhost/kcloud-mlperf-runtime:empty`, an empty root filesystem made on first use by
  `podman import` of an empty tar (no registry is needed), with the host's system directories (/usr, /etc, /lib…,
  only those that exist; merged-/usr symlinks such as /bin → usr/bin are fine) mounted read-only over it. So the
  candidate runs the very same binaries and libraries as the baseline; what differs is the container: namespaces,
  cgroup, seccomp, overlay root, podman's process tree. With `image=REF` the image's own userland is used instead: the
  system directories are *not* mounted (that would hide the image), but the interpreter, virtualenv, checkout, caches
  and run directory still are, so the same Python and packages run on the image's libc and system libraries.
- **mounts**: the interpreter's base prefix (`sys.base_prefix`, real path), the virtualenv (`sys.prefix`), the
  checkout and the model caches (the tiny model's cache, Hugging Face's, torch hub's, and a `--model DIR` outside them)
  read-only; the run directory read-write (config in, results out); vLLM's own cache read-write where it exists (its
  compile cache: the baseline reuses it, so the candidate must too, or the comparison measures cache misses).
  `--tmpfs /tmp`, a `/dev/shm` as large as the host's, `--network none` (the workload needs none: the models come from
  the mounted caches).
- **limits**: explicit `--ulimit`s, because podman's defaults are refused on hosts like this one (crun:
  `setrlimit RLIMIT_NOFILE: Operation not permitted`; runc: `error setting rlimit type 6`): nofile as the host's
  own (what the baseline gets), nproc 8192. `--runtime runc` where runc is installed (crun fails on such hosts).
- **environment**: only what the workload reads is passed, each with `-e`: see `passed_env`. A name that looks like a
  secret (`TOKEN`, `PASSWORD`, `SECRET`, `KEY` in it) is passed as `-e NAME`, which podman fills from its own
  environment: its value is never in the command line, so neither in `ps`, the terminal nor the log.
- **GPUs**: where `nvidia-smi` works, `--device nvidia.com/gpu=all`. That is CDI: it needs the NVIDIA container
  toolkit's CDI spec on the host (`nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`). Not testable here (no GPU,
  and the toolkit is not installable offline).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.errors import ConfigError

DEFAULT_IMAGE = "localhost/kcloud-mlperf-runtime:empty"
SYSTEM_DIRS = ("/usr", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin")
NPROC_LIMIT = 8192  # podman's default and the host's own (tens of thousands) are refused here (setrlimit NPROC)
NOFILE_FALLBACK = 4096  # when the host's limit is unlimited
SHM_FALLBACK_BYTES = 2 * 2**30
INSTALL_FIX = "apt-get install podman runc"
CDI_FIX = "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"
# Environment the workload reads, by prefix: engines, model hubs, thread pools, our own settings, CUDA.
ENV_PREFIXES = ("VLLM_", "HF_", "HUGGING_FACE_", "TRANSFORMERS_", "TOKENIZERS_", "TORCH_", "TORCHINDUCTOR_",
                "TRITON_", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "KCLOUD_", "BENCH_", "CUDA_", "NVIDIA_", "NCCL_")
# ... and by name. Not passed: TMPDIR (the container's /tmp is a tmpfs), DISPLAY and the like.
ENV_NAMES = ("PYTHONUNBUFFERED", "PYTHONPATH", "PYTHONHASHSEED", "HOME", "USER", "PATH", "LD_LIBRARY_PATH",
             "LD_PRELOAD", "XDG_CACHE_HOME", "LANG", "LC_ALL", "TZ")
_SECRET = re.compile(r"TOKEN|PASSWORD|SECRET|KEY", re.IGNORECASE)
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]+")


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the values of secret-looking names replaced, for anything printed."""
    return {k: "***" if is_secret(k) else v for k, v in env.items()}


def require_podman() -> str:
    """podman's path, or a one-line ConfigError with the fix."""
    path = shutil.which("podman")
    if path is None:
        raise ConfigError(f"the container variant runs the workload under podman, which is not installed here: "
                          f"{INSTALL_FIX} (and set [engine] runtime = \"runc\" in /etc/containers/containers.conf "
                          f"where crun cannot set rlimits)")
    return path


def find_runtime() -> str | None:
    """`runc` where it is installed (crun, podman's usual default, cannot set rlimits on hosts like this one), else
    None: podman's configured default."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
    return "runc" if shutil.which("runc", path=search) else None


def default_runtime(podman: str = "podman") -> str:
    """The runtime podman uses when none is named, for the terminal."""
    try:
        out = subprocess.run([podman, "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "podman's default"
    return out.stdout.strip() or "podman's default"


def host_has_gpus() -> bool:
    if not shutil.which("nvidia-smi"):
        return False
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = NOFILE_FALLBACK if hard == resource.RLIM_INFINITY else hard
    soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
    return soft, hard


def _shm_bytes() -> int:
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return SHM_FALLBACK_BYTES
    return st.f_blocks * st.f_frsize or SHM_FALLBACK_BYTES


def model_caches(environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The model caches that exist here (read-only in the container) and vLLM's cache (read-write): the tiny model's
    (bench/models/tiny.py `cache_root`), Hugging Face's (HF_HOME, HF_HUB_CACHE, else ~/.cache/huggingface), torch
    hub's (TORCH_HOME, else ~/.cache/torch: ResNet-50's torchvision weights)."""
    home = Path(environ.get("HOME") or Path.home())
    xdg = Path(environ["XDG_CACHE_HOME"]) if environ.get("XDG_CACHE_HOME") else home / ".cache"
    tiny = Path(environ["KCLOUD_MLPERF_CACHE"]) if environ.get("KCLOUD_MLPERF_CACHE") else xdg / "kcloud-mlperf"
    read_only = [tiny, Path(environ.get("HF_HOME") or xdg / "huggingface"),
                 Path(environ.get("TORCH_HOME") or xdg / "torch")]
    if environ.get("HF_HUB_CACHE"):
        read_only.append(Path(environ["HF_HUB_CACHE"]))
    vllm = Path(environ.get("VLLM_CACHE_ROOT") or xdg / "vllm")
    return ([str(p.expanduser()) for p in read_only if p.expanduser().is_dir()],
            [str(vllm.expanduser())] if vllm.expanduser().is_dir() else [])


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True

    def arg(self) -> str:
        return f"{self.source}:{self.target}:{'ro' if self.read_only else 'rw'}"


@dataclass(frozen=True)
class HostFacts:
    """What the podman command depends on here. `detect()` finds them; tests pass their own."""

    system_dirs: tuple[str, ...]
    interpreter: tuple[str, ...]  # the base prefix (real path, and as Python names it), the virtualenv
    checkout: str
    runtime: str | None
    gpus: bool
    nofile: tuple[int, int]
    shm_bytes: int

    @classmethod
    def detect(cls, checkout: Path) -> HostFacts:
        prefixes = [os.path.realpath(sys.base_prefix), sys.base_prefix, sys.prefix]
        return cls(
            system_dirs=tuple(d for d in SYSTEM_DIRS if os.path.exists(d)),
            interpreter=tuple(dict.fromkeys(p for p in prefixes if os.path.isdir(p))),
            checkout=str(checkout), runtime=find_runtime(), gpus=host_has_gpus(), nofile=_nofile(),
            shm_bytes=_shm_bytes(),
        )


@dataclass(frozen=True)
class ContainerSettings:
    """The container variant: which image (None: the empty default, built on first use)."""

    image: str | None = None

    @property
    def image_ref(self) -> str:
        return self.image or DEFAULT_IMAGE

    @property
    def uses_host_system(self) -> bool:
        """The default image is empty: the host's system directories are mounted over it."""
        return self.image is None


def passed_env(child_env: Mapping[str, str], variant_env: Mapping[str, str]) -> dict[str, str]:
    """The environment given to the containerised workload: the names in ENV_NAMES, those with an ENV_PREFIXES prefix
    (as the baseline's child has them), and every name the variant sets."""
    chosen = {k: v for k, v in child_env.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}
    return {**chosen, **variant_env}


def container_name(run_id: str, group: str) -> str:
    """Unique per run, group and attempt (a comparison runs the same group many times)."""
    stem = _NAME_CHARS.sub("-", f"{run_id}-{group}").strip("-.")[:80]
    return f"kcloud-mlperf-{stem}-{uuid.uuid4().hex[:8]}"


def _inside(path: str, mounts: Iterable[Mount]) -> bool:
    return any(path == m.target or path.startswith(m.target.rstrip("/") + "/") for m in mounts)


def mounts_for(settings: ContainerSettings, host: HostFacts, run_path: str, environ: Mapping[str, str],
               model_dir: str | None = None) -> list[Mount]:
    """Every bind mount, parents first; a read-only path inside one already mounted read-only is left out."""
    read_only, read_write = model_caches(environ)
    wanted = [*(host.system_dirs if settings.uses_host_system else ()), *host.interpreter, host.checkout,
              *read_only]
    if model_dir and os.path.isdir(model_dir):
        wanted.append(model_dir)
    mounts: list[Mount] = []
    for path in sorted(dict.fromkeys(wanted)):  # a parent sorts before what is inside it
        if not _inside(path, mounts):
            mounts.append(Mount(path, path))
    mounts += [Mount(p, p, read_only=False) for p in [*read_write, run_path]]
    return mounts


def podman_argv(command: list[str], *, name: str, settings: ContainerSettings, host: HostFacts,
                mounts: list[Mount], env: Mapping[str, str]) -> list[str]:
    """`podman run ... IMAGE COMMAND`. Secret-looking names are passed as `-e NAME` (podman takes the value from its
    own environment, which must hold them), so the command line never holds their values."""
    argv = ["podman", "run", "--rm", "--name", name]
    if host.runtime:
        argv += ["--runtime", host.runtime]
    argv += ["--network", "none", "--ulimit", f"nofile={host.nofile[0]}:{host.nofile[1]}",
             "--ulimit", f"nproc={NPROC_LIMIT}:{NPROC_LIMIT}", "--tmpfs", "/tmp",
             "--shm-size", f"{max(host.shm_bytes // 2**20, 64)}m"]
    for mount in mounts:
        argv += ["-v", mount.arg()]
    for key, value in {**env, "BENCH_CONTAINER": f"podman:{settings.image_ref}"}.items():
        argv += ["-e", key if is_secret(key) else f"{key}={value}"]
    if host.gpus:
        argv += gpu_args()
    argv += ["--workdir", host.checkout, settings.image_ref, *command]
    return argv


def gpu_args() -> list[str]:
    """All GPUs through CDI. Needs the NVIDIA container toolkit's CDI spec on the host (CDI_FIX); untested here (no
    GPU, and the toolkit is not installable offline)."""
    return ["--device", "nvidia.com/gpu=all"]


def printable(argv: list[str]) -> str:
    """The command line as a shell would take it. `podman_argv` keeps secret values out of argv already; a value in
    the workload command itself is masked here too."""
    out = []
    for arg in argv:
        key, sep, _ = arg.partition("=")
        out.append(f"{key}=***" if sep and is_secret(key) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else arg)
    return shlex.join(out)


def ensure_image(settings: ContainerSettings, echo, podman: str = "podman") -> None:
    """The default image, created on first use (an empty root filesystem: `podman import` of an empty tar). A given
    image is left to podman (it pulls it where a registry is reachable, or says why not)."""
    if not settings.uses_host_system:
        return
    if subprocess.run([podman, "image", "exists", DEFAULT_IMAGE], capture_output=True).returncode == 0:
        return
    echo(f"[local] creating the container image {DEFAULT_IMAGE}: an empty root filesystem (podman import of an "
         f"empty tar); the host's system directories are mounted over it read-only")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w"):
        pass
    proc = subprocess.run([podman, "import", "-", DEFAULT_IMAGE], input=buffer.getvalue(), capture_output=True)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"podman import of the empty default image {DEFAULT_IMAGE} failed: "
                          f"{message[-1] if message else f'exit {proc.returncode}'}")


def remove(name: str, podman: str = "podman") -> None:
    """`podman rm -f` the container, killing it at once; nothing when it is gone already."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run([podman, "rm", "--force", "--time", "0", name], capture_output=True, timeout=60)


def exists(name: str, podman: str = "podman") -> bool:
    try:
        return subprocess.run([podman, "container", "exists", name], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def start_failure(returncode: int, tail: Iterable[str]) -> str | None:
    """podman's own message when it could not start the container (its exit codes 125-127: podman, runtime,
    command), else None."""
    if returncode not in (125, 126, 127):
        return None
    lines = [line for line in tail if line.startswith("Error:")]
    if not lines:
        return None
    return f"podman could not start the container (exit {returncode}): {lines[-1]}"

