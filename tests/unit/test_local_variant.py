"""The local executor as a side of an overhead comparison: wrapper, env, the podman command it builds, secrets kept
out of what it prints. No podman needed (tests/e2e/test_container_variant.py runs real containers)."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from bench.config import RunGroup, Task
from bench.errors import ConfigError
from bench.executors import container as podman
from bench.executors.local import PACKAGE_ROOT, LocalExecutor
from bench.results.rundir import RunDirectory
from bench.variants import Variant

# A stand-in workload: prints what it sees (argv, one env var, its CPU affinity) and writes passing results.
WORKLOAD = textwrap.dedent(
    """
    import json, os, sys
    config, output = sys.argv[-2:]
    group = json.load(open(config))
    print("argv0", os.path.basename(sys.argv[0]), "FOO", os.environ.get("FOO"), flush=True)
    json.dump([{"benchmark": t["benchmark"], "scenario": t["scenario"], "profile": group["profile"], "metrics": {},
                "thresholds": {}, "passed": True, "config": {}, "environment": {}, "started_at": "",
                "duration_s": 0.0, "error": None, "notes": []} for t in group["tasks"]], open(output, "w"))
    """
)


class StandIn(LocalExecutor):
    def command(self, group: RunGroup, config: Path, output: Path) -> list[str]:
        return [sys.executable, "-c", WORKLOAD, str(config), str(output)]


def group(model: str = "builtin:tiny-llama") -> RunGroup:
    return RunGroup(name="resnet50", profile="tiny", model=model, engine={},
                    tasks=[Task("resnet50", "SingleStream", {})])


HOST = podman.HostFacts(
    system_dirs=("/usr", "/etc", "/lib", "/lib64", "/bin"), interpreter=("/opt/py/3.11", "/srv/venv"),
    checkout="/srv/checkout", runtime="runc", gpus=False, nofile=(1024, 4096), shm_bytes=8 * 2**30,
)


def argv_of(executor: LocalExecutor, env: dict[str, str], model: str = "builtin:tiny-llama",
            host: podman.HostFacts = HOST, run_dir: Path = Path("/runs/r1")) -> list[str]:
    return executor.container_command(group(model), ["python", "-m", "bench.run"], run_dir, env, "kc-1", host)


def pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_local_executor_applies_wrapper_env_container_and_image() -> None:
    assert LocalExecutor.supported_variant_keys == ("wrapper", "env", "container", "image")
    with pytest.raises(ConfigError, match="runtime-class cannot be applied by the local executor"):
        LocalExecutor().for_variant(Variant(name="c", runtime_class="kata"))


def test_no_overrides_is_the_executor_itself_and_describes_as_before() -> None:
    executor = LocalExecutor()
    assert executor.for_variant(Variant(name="baseline")) is executor
    assert executor.describe() == "local"


def test_variant_copy_keeps_the_constructor_settings_and_subclass() -> None:
    base = StandIn(python="/x/python", kill_grace_s=2.0)
    variant = base.for_variant(Variant(name="c", wrapper=("taskset", "-c", "0"), env={"FOO": "1"}))
    assert type(variant) is StandIn and variant is not base
    assert (variant.python, variant.kill_grace_s) == ("/x/python", 2.0)
    assert variant.wrapper == ("taskset", "-c", "0") and variant.env == {"FOO": "1"}
    assert base.wrapper == () and base.env == {}  # the original is untouched
    assert variant.describe() == "local: under `taskset -c 0`, with FOO=1"


def test_wrapper_prefixes_the_command_and_env_reaches_the_child(tmp_path: Path) -> None:
    if shutil.which("env") is None:
        pytest.skip("env(1) is needed as the wrapper")
    executor = StandIn().for_variant(Variant(name="c", wrapper=("env", "BAR=2"), env={"FOO": "from-variant"}))
    lines: list[str] = []
    [result] = executor.run(group(), RunDirectory.create(tmp_path), lines.append)
    assert result.passed, result.error
    command = next(line for line in lines if line.startswith("[local] "))
    assert command.startswith(f"[local] env BAR=2 {sys.executable} -c ")  # the full command, wrapper first
    assert "FOO from-variant" in " ".join(lines)


def test_a_wrapper_that_is_not_installed_fails_the_tasks_with_one_line(tmp_path: Path) -> None:
    executor = StandIn().for_variant(Variant(name="c", wrapper=("no-such-wrapper-xyz",)))
    [result] = executor.run(group(), RunDirectory.create(tmp_path), lambda _: None)
    assert result.error == "cannot start no-such-wrapper-xyz: No such file or directory"


def test_secret_env_values_stay_out_of_describe() -> None:
    executor = LocalExecutor().for_variant(Variant(name="c", env={"HF_TOKEN": "hf_s3cret", "N": "1"}))
    assert "hf_s3cret" not in executor.describe() and "HF_TOKEN=***" in executor.describe()


def test_image_without_container_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"write container=reg/img:1"):
        LocalExecutor().for_variant(Variant(name="c", image="reg/img:1"))


def test_container_without_podman_is_one_config_error_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(podman.shutil, "which", lambda name, path=None: None)
    with pytest.raises(ConfigError, match=r"podman, which is not installed here: apt-get install podman runc"):
        LocalExecutor().for_variant(Variant(name="c", container=True))


@pytest.fixture
def with_podman(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(podman.shutil, "which",
                        lambda name, path=None: "/usr/bin/podman" if name == "podman" else real(name, path=path))


@pytest.fixture
def caches(tmp_path: Path) -> dict[str, str]:
    """A HOME with the tiny model's and Hugging Face's caches, and vLLM's; no torch hub cache."""
    for sub in ("kcloud-mlperf", "huggingface", "vllm"):
        (tmp_path / ".cache" / sub).mkdir(parents=True)
    return {"HOME": str(tmp_path)}


def test_default_container_command(with_podman, caches: dict[str, str]) -> None:
    home = caches["HOME"]
    executor = LocalExecutor().for_variant(Variant(name="c", container=True))
    argv = argv_of(executor, {**caches, "PYTHONUNBUFFERED": "1", "PYTHONPATH": "/srv/checkout", "SHELL": "/bin/sh"})
    assert argv[:5] == ["podman", "run", "--rm", "--name", "kc-1"]
    assert pairs(argv, "--runtime") == ["runc"] and pairs(argv, "--network") == ["none"]
    assert pairs(argv, "--ulimit") == ["nofile=1024:4096", "nproc=8192:8192"]
    assert pairs(argv, "--tmpfs") == ["/tmp"] and pairs(argv, "--shm-size") == ["8192m"]
    assert pairs(argv, "-v") == [
        "/bin:/bin:ro", "/etc:/etc:ro", "/lib:/lib:ro", "/lib64:/lib64:ro", "/opt/py/3.11:/opt/py/3.11:ro",
        "/srv/checkout:/srv/checkout:ro", "/srv/venv:/srv/venv:ro",
        f"{home}/.cache/huggingface:{home}/.cache/huggingface:ro",
        f"{home}/.cache/kcloud-mlperf:{home}/.cache/kcloud-mlperf:ro", "/usr:/usr:ro",
        f"{home}/.cache/vllm:{home}/.cache/vllm:rw", "/runs/r1:/runs/r1:rw",
    ]
    assert pairs(argv, "-e") == [f"HOME={home}", "PYTHONUNBUFFERED=1", "PYTHONPATH=/srv/checkout",  # no SHELL
                                 "BENCH_CONTAINER=podman:localhost/kcloud-mlperf-runtime:empty"]
    assert "--device" not in argv
    assert argv[-5:] == ["--workdir", "/srv/checkout", podman.DEFAULT_IMAGE, "python", "-m", "bench.run"][-5:]
    assert argv[argv.index("--workdir") + 1] == "/srv/checkout"


def test_a_given_image_keeps_its_own_system_dirs_but_gets_the_interpreter(with_podman) -> None:
    executor = LocalExecutor().for_variant(Variant(name="c", container=True, image="localhost/other:1"))
    argv = argv_of(executor, {"HOME": "/nonexistent"})
    assert pairs(argv, "-v") == ["/opt/py/3.11:/opt/py/3.11:ro", "/srv/checkout:/srv/checkout:ro",
                                 "/srv/venv:/srv/venv:ro", "/runs/r1:/runs/r1:rw"]
    assert "localhost/other:1" in argv and podman.DEFAULT_IMAGE not in argv
    assert executor.describe().startswith("local: in a podman container (image localhost/other:1, runtime ")


def test_a_model_directory_outside_the_caches_is_mounted_read_only(with_podman, tmp_path: Path) -> None:
    model = tmp_path / "models" / "llama"
    model.mkdir(parents=True)
    executor = LocalExecutor().for_variant(Variant(name="c", container=True))
    assert f"{model}:{model}:ro" in pairs(argv_of(executor, {"HOME": "/nonexistent"}, model=str(model)), "-v")
    inside = Path(HOST.checkout)  # under a mounted directory: no second mount
    assert len(pairs(argv_of(executor, {"HOME": "/x"}, model=str(inside)), "-v")) == 9


def test_workload_env_is_passed_and_secret_values_never_in_the_command(with_podman) -> None:
    executor = LocalExecutor().for_variant(
        Variant(name="c", container=True, env={"MY_API_KEY": "k-123", "LD_LIBRARY_PATH": "/opt/icpt"}))
    env = {"HOME": "/h", "HF_TOKEN": "hf_s3cret", "HF_HOME": "/h/hf", "VLLM_CPU_KVCACHE_SPACE": "1",
           "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": "0", "KCLOUD_MLPERF_CACHE": "/c", "BENCH_X": "y",
           "DB_PASSWORD": "pw", "AWS_SECRET_ACCESS_KEY": "aws", "TMPDIR": "/var/tmp", "EDITOR": "vi"}
    argv = argv_of(executor, env)
    assert pairs(argv, "-e") == [
        "HOME=/h", "HF_TOKEN", "HF_HOME=/h/hf", "VLLM_CPU_KVCACHE_SPACE=1", "OMP_NUM_THREADS=2",
        "CUDA_VISIBLE_DEVICES=0", "KCLOUD_MLPERF_CACHE=/c", "BENCH_X=y", "MY_API_KEY", "LD_LIBRARY_PATH=/opt/icpt",
        "BENCH_CONTAINER=podman:localhost/kcloud-mlperf-runtime:empty",
    ]  # secrets by name only: podman takes their values from its own environment
    printed = podman.printable(argv)
    for secret in ("hf_s3cret", "k-123", "pw", "aws"):
        assert secret not in printed
    assert podman.printable(["python", "HF_TOKEN=abc", "--x"]) == "python 'HF_TOKEN=***' --x"


def test_gpus_go_through_cdi_and_no_runc_leaves_podmans_default(with_podman) -> None:
    executor = LocalExecutor().for_variant(Variant(name="c", container=True))
    gpu_host = podman.HostFacts(**{**HOST.__dict__, "gpus": True, "runtime": None})
    argv = argv_of(executor, {"HOME": "/x"}, host=gpu_host)
    assert pairs(argv, "--device") == ["nvidia.com/gpu=all"] and "--runtime" not in argv


def test_the_wrapper_runs_inside_the_container(with_podman, tmp_path: Path) -> None:
    executor = LocalExecutor().for_variant(Variant(name="c", container=True, wrapper=("taskset", "-c", "0")))
    command = executor.full_command(group(), tmp_path / "c.json", tmp_path / "o.json", tmp_path, {"HOME": "/x"},
                                    "kc-1")
    image = command.index(podman.DEFAULT_IMAGE)
    assert command[image + 1:image + 5] == ["taskset", "-c", "0", sys.executable]


def test_container_names_are_unique_and_valid() -> None:
    names = {podman.container_name("20261201-120000-ab12", "llm_throughput+summarization") for _ in range(3)}
    assert len(names) == 3
    for name in names:
        assert name.startswith("kcloud-mlperf-20261201-120000-ab12-llm_throughput-summarization-")


def test_podman_start_failure_quotes_podman() -> None:
    tail = ["Error: runc: runc create failed: unable to start container process: error setting rlimit type 6"]
    assert podman.start_failure(126, tail) == (
        "podman could not start the container (exit 126): Error: runc: runc create failed: unable to start "
        "container process: error setting rlimit type 6")
    assert podman.start_failure(1, tail) is None  # the workload's own exit code
    assert podman.start_failure(125, ["something else"]) is None


def test_host_facts_here_mount_only_what_exists() -> None:
    facts = podman.HostFacts.detect(PACKAGE_ROOT)
    assert all(Path(d).exists() for d in facts.system_dirs) and "/usr" in facts.system_dirs
    assert str(Path(sys.prefix)) in facts.interpreter
    assert facts.nofile[0] <= facts.nofile[1]


def test_on_a_gpu_host_the_container_says_what_cdi_needs(with_podman, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setattr(podman, "ensure_image", lambda settings, echo, tool: None)
    monkeypatch.setattr(podman.HostFacts, "detect", classmethod(lambda cls, checkout: podman.HostFacts(
        **{**HOST.__dict__, "gpus": True})))
    lines: list[str] = []
    executor = LocalExecutor().for_variant(Variant(name="c", container=True))
    name, host = executor._prepare_container(group(), RunDirectory.create(tmp_path), lines.append)
    assert host.gpus and name.startswith("kcloud-mlperf-")
    assert any("--device nvidia.com/gpu=all (CDI)" in line and podman.CDI_FIX in line for line in lines)
