"""The overhead runner (bench/overhead.py) and variants (bench/variants.py) with small real subprocesses.

The stand-in workload (a few lines of Python, no engine) reports `samples_per_s` from the environment the variant
gives it — `STANDIN_RATE`, with seeded noise — in the real result format, so the runner, the local executor's
variant handling, the statistics and every output are the product's. A true 10% slowdown must FAIL, an A/A must
not, Ctrl-C must keep the finished repeats."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from bench.config import RunGroup
from bench.environment import DeviceProbe, throttled
from bench.errors import ConfigError
from bench.executors.local import LocalExecutor
from bench.overhead import OverheadRun, abba_order
from bench.profiles import get_profile
from bench.suite import Choices
from bench.variants import Comparison, Variant, comparison_from_options, parse_spec, parse_volume

WORKLOAD = textwrap.dedent(
    """
    import json, os, random, sys, time
    config, output = sys.argv[1], sys.argv[2]
    group = json.load(open(config))
    rate = float(os.environ.get("STANDIN_RATE", "100"))
    noise = random.Random(output).gauss(0, float(os.environ.get("STANDIN_CV", "0")))
    if os.environ.get("STANDIN_SLEEP"):
        time.sleep(float(os.environ["STANDIN_SLEEP"]))
    env = {"device": os.environ.get("STANDIN_DEVICE", "cpu"), "host": "standin"}
    if os.environ.get("STANDIN_GPU"):
        env = {"device": "cuda", "gpu": {"name": os.environ["STANDIN_GPU"], "count": 1}, "host": "standin"}
    results = [{"benchmark": t["benchmark"], "scenario": t["scenario"], "profile": group["profile"],
                "metrics": {"samples_per_s": rate * (1 + noise), "result_valid": 1.0}, "thresholds": {},
                "passed": True, "config": {"profile_model": group["model"], "size": group["size"]},
                "environment": env, "started_at": "", "duration_s": 0.0, "error": None, "notes": []}
               for t in group["tasks"]]
    json.dump(results, open(output, "w"))
    """
)


class StandInWorkload(LocalExecutor):
    """The local executor with the stand-in workload as its command; variants apply as they do to the real one."""

    def command(self, group: RunGroup, config: Path, output: Path) -> list[str]:
        return [*self.wrapper, sys.executable, "-c", WORKLOAD, str(config), str(output)]


def choices(executor: LocalExecutor | None = None) -> Choices:
    return Choices(get_profile("tiny"), "test", executor or StandInWorkload(), DeviceProbe("cpu", "test", 2),
                   "stand-in")


def overhead(tmp_path: Path, candidate: Variant, repeats: int = 3, aa: bool = False,
             baseline: Variant | None = None, **kwargs) -> OverheadRun:
    comparison = Comparison(baseline or Variant(name="baseline"), candidate, repeats=repeats, seed=7, aa=aa)
    return OverheadRun.prepare([("resnet50", "Offline")], choices(), tmp_path, comparison, echo=lambda _: None,
                               **kwargs)


# ---- the order ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("repeats", [2, 3, 4, 5, 10])
def test_abba_order_balances_both_sides_and_is_seeded(repeats: int) -> None:
    order = abba_order(repeats, seed=3)
    assert order.count("baseline") == order.count("candidate") == repeats
    blocks = [order[i:i + 4] for i in range(0, 4 * (repeats // 2), 4)]
    assert all(b in (["baseline", "candidate", "candidate", "baseline"],
                     ["candidate", "baseline", "baseline", "candidate"]) for b in blocks)
    assert abba_order(repeats, seed=3) == order
    assert len({tuple(abba_order(10, seed=s)) for s in range(20)}) > 1  # the seed matters


# ---- variants ----------------------------------------------------------------------------------------------------


def test_spec_items_build_one_variant() -> None:
    v = parse_spec(["runtime-class=xen-gpu", "env=LD_LIBRARY_PATH=/opt/icpt", "name=xen",
                    "volume=hostPath:/opt/icpt/libcuda.so.1:/opt/icpt/libcuda.so.1", "annotation=a.b/c=d",
                    "node-selector=gpu=h200", "resource=cpu=8", "image=reg/img:1"], "candidate")
    assert (v.name, v.runtime_class, dict(v.env), v.image) == ("xen", "xen-gpu", {"LD_LIBRARY_PATH": "/opt/icpt"},
                                                                "reg/img:1")
    assert v.volumes[0].kind == "hostPath" and v.volumes[0].read_only
    assert v.used_keys() == ["runtime-class", "env", "volume", "image", "node-selector", "annotation", "resource"]
    assert parse_spec(["wrapper=taskset -c 0"], "c").wrapper == ("taskset", "-c", "0")
    assert parse_spec(["container"], "c").container and parse_spec(["container=img:2"], "c").image == "img:2"
    assert parse_spec(["host"], "c").overrides() == {}


@pytest.mark.parametrize(("items", "message"), [
    (["frobnicate=1"], "unknown variant item 'frobnicate=1'"),
    (["env=1X=2"], "not a valid environment variable name"),
    (["resource=nvidia.com/gpu=2"], "only cpu, memory can be overridden"),
    (["name=Not_A_Label"], "variant name 'Not_A_Label'"),
    (["volume=nfs:/a:/b"], "expected volume=hostPath"),
    (["volume=hostPath:rel:/b"], "must be an absolute path"),
])
def test_bad_items_are_one_line(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_spec(items, "candidate")


def test_volume_modes() -> None:
    assert not parse_volume("hostPath:/a:/b:rw").read_only
    assert parse_volume("configMap:icpt:/etc/icpt").kind == "configMap"


def test_comparison_checks() -> None:
    with pytest.raises(ConfigError, match="identical to the baseline"):
        Comparison(Variant(name="baseline"), Variant(name="candidate"))
    Comparison(Variant(name="baseline"), Variant(name="candidate"), aa=True)  # the A/A self-test
    with pytest.raises(ConfigError, match="at least 2 repeats"):
        Comparison(Variant(name="baseline"), Variant(name="candidate", env={"A": "1"}), repeats=1)
    with pytest.raises(ConfigError, match="both named"):
        Comparison(Variant(name="x"), Variant(name="x", env={"A": "1"}))
    assert comparison_from_options(None, None, None, None, None, False) is None
    with pytest.raises(ConfigError, match="needs a candidate"):
        comparison_from_options(None, None, None, 3, None, False)


def test_compare_file(tmp_path: Path) -> None:
    path = tmp_path / "compare.yaml"
    path.write_text(textwrap.dedent("""
        repeats: 4
        seed: 11
        candidate:
          name: xen
          runtime_class: xen-gpu
          env: {LD_LIBRARY_PATH: /opt/icpt}
          volumes:
            - {hostPath: /opt/icpt/libcuda.so.1, mountPath: /opt/icpt/libcuda.so.1}
    """))
    c = comparison_from_options(None, None, path, None, None, False)
    assert c is not None and (c.repeats, c.seed, c.candidate.name, c.baseline.name) == (4, 11, "xen", "baseline")
    assert c.candidate.volumes[0].mount_path == "/opt/icpt/libcuda.so.1"
    # the command line wins over the file
    c2 = comparison_from_options(None, ["wrapper=nice"], path, 2, None, False)
    assert c2 is not None and (c2.repeats, c2.candidate.wrapper) == (2, ("nice",))
    path.write_text("candidate: {runtme_class: x}\n")
    with pytest.raises(ConfigError, match="unknown variant key 'runtme_class'"):
        comparison_from_options(None, None, path, None, None, False)


def test_executor_refuses_keys_it_cannot_apply() -> None:
    with pytest.raises(ConfigError, match="runtime-class cannot be applied by the local executor"):
        LocalExecutor().for_variant(Variant(name="c", runtime_class="kata"))
    with pytest.raises(ConfigError, match="--node applies to the kubernetes executor"):
        LocalExecutor().preflight_comparison([], [], "gpu-1")


# ---- the runner --------------------------------------------------------------------------------------------------


def test_a_true_slowdown_fails_and_every_output_is_written(tmp_path: Path) -> None:
    run = overhead(tmp_path, Variant(name="slow", env={"STANDIN_RATE": "90"}), repeats=3)
    verdicts = run.run()
    assert verdicts is not None and str(verdicts.verdict) == "FAIL" and run.exit_code == 1
    data = json.loads((run.run_dir.path / "overhead.json").read_text())
    repeats = data["groups"][0]["repeats"]
    assert [r["side"] for r in repeats] == abba_order(3, seed=7)
    assert data["verdict"] == "FAIL" and data["complete"]
    assert data["metrics"][0]["comparison"]["estimate"] == pytest.approx(0.9)
    for r in repeats:
        [result] = json.loads((run.run_dir.path / r["run_dir"] / "results.json").read_text())
        assert (result["variant"], result["repeat"]) == (r["variant"], r["repeat"])
        assert (run.run_dir.path / r["run_dir"] / "logs" / "resnet50.log").exists()
    summary = (run.run_dir.path / "summary.md").read_text()
    assert "## Overhead" in summary
    assert "| resnet50/Offline samples_per_s | 100.0 (n=3) | 90 (n=3) | -10.0% [-10.0%, -10.0%] | FAIL |" in summary
    assert (run.run_dir.path / "overhead-resnet50.png").stat().st_size > 1000
    assert not (tmp_path / run.run_dir.run_id / "repeats" / "latest").exists()  # repeats do not move `latest`


def test_aa_with_noise_is_not_a_fail(tmp_path: Path) -> None:
    run = overhead(tmp_path, Variant(name="again"), aa=True, repeats=4,
                   baseline=Variant(name="baseline"))
    run.executors = {side: StandInWorkload(env={"STANDIN_CV": "0.01"}) for side in ("baseline", "candidate")}
    verdicts = run.run()
    assert verdicts is not None and str(verdicts.verdict) != "FAIL"


def test_different_gpu_models_are_refused(tmp_path: Path) -> None:
    run = overhead(tmp_path, Variant(name="other", env={"STANDIN_GPU": "NVIDIA A30"}),
                   baseline=Variant(name="baseline", env={"STANDIN_GPU": "NVIDIA H200"}), repeats=2)
    assert run.run() is None and run.exit_code == 2
    assert "not comparable: GPU model differs" in str(run.refused)
    assert json.loads((run.run_dir.path / "overhead.json").read_text())["verdict"] == "NOT COMPARABLE"


def test_ctrl_c_keeps_the_finished_repeats(tmp_path: Path) -> None:
    run = overhead(tmp_path, Variant(name="slow", env={"STANDIN_RATE": "90", "STANDIN_SLEEP": "30"}), repeats=2)
    cancel = threading.Event()
    first = abba_order(2, seed=7).index("candidate")  # the first slow (sleeping) repeat
    timer = threading.Timer(0.1, cancel.set) if first == 0 else None

    def echo(line: str) -> None:
        if f"run {first + 1}/4" in line:
            threading.Timer(1.0, cancel.set).start()

    run.echo = echo
    if timer:
        timer.start()
    with pytest.raises(KeyboardInterrupt):
        run.run(cancel)
    data = json.loads((run.run_dir.path / "overhead.json").read_text())
    repeats = data["groups"][0]["repeats"]
    assert not data["complete"] and repeats[-1]["interrupted"]
    assert [r["side"] for r in repeats[:-1]] == abba_order(2, seed=7)[:first]
    assert all(r["status"] == {"resnet50/Offline": "PASS"} for r in repeats[:-1])


def test_bad_comparisons_leave_no_run_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be applied by the local executor"):
        overhead(tmp_path, Variant(name="kata", runtime_class="kata"))
    with pytest.raises(ConfigError, match="must not be negative"):
        overhead(tmp_path, Variant(name="slow", env={"A": "1"}), max_overhead=-0.05)
    assert list(tmp_path.iterdir()) == []


def test_only_real_slowdowns_count_as_throttling() -> None:
    assert throttled([{"uuid": "GPU-1", "throttle_reasons": "0x0000000000000004"}]) == []  # the power cap: normal
    assert throttled([{"uuid": "GPU-1", "throttle_reasons": "0x0000000000000001"}]) == []  # idle
    [line] = throttled([{"uuid": "GPU-1", "throttle_reasons": "0x0000000000000028"}])
    assert line == "GPU-1: hardware slowdown, software thermal slowdown (0x0000000000000028)"
