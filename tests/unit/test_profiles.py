"""The speed gates per GPU type: which GPU names select which floors, the "other GPU" policy (no floor, and a note
saying so on the result), and the README's gate table agreeing with the profile."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import run as bench_run
from bench.config import RunGroup
from bench.plan import build_plan
from bench.profiles import LLAMA31_8B, PROFILES, TINY, gate_notes, gpu_key, select_gates
from bench.results.schema import Threshold
from bench.workloads.base import Measurement, WorkloadContext

README = Path(__file__).resolve().parents[2] / "README.md"

# nvidia-smi's names: the H200 as seen on the GPU machine, the PCIe variant, and GPUs with no entry
H200_NAMES = ("NVIDIA H200", "NVIDIA H200 NVL")
OTHER_GPUS = ("NVIDIA RTX 6000 Ada Generation", "Tesla T4", "NVIDIA GH200 480GB", "NVIDIA L40S")


def _gates(benchmark: str, scenario: str, gpu: str | None) -> dict[str, Threshold]:
    return select_gates(LLAMA31_8B.threshold_table(benchmark, scenario), gpu)


@pytest.mark.parametrize("gpu", H200_NAMES)
def test_h200_names_select_the_h200_floors(gpu: str) -> None:
    assert _gates("llm_throughput", "offline", gpu)["output_tokens_per_s"] == Threshold(">=", 1500.0)
    assert _gates("llm_throughput", "single", gpu)["latency_p99_ms"] == Threshold("<=", 1300.0)
    assert _gates("resnet50", "Offline", gpu)["samples_per_s"] == Threshold(">=", 24000.0)
    assert _gates("resnet50", "SingleStream", gpu)["latency_p90_ms"] == Threshold("<=", 1.0)
    for benchmark, scenario in (("llm_throughput", "offline"), ("resnet50", "Offline")):
        assert gate_notes(LLAMA31_8B.threshold_table(benchmark, scenario), gpu, benchmark, scenario) == []


def test_h100_and_a30_floors_are_kept() -> None:
    h100 = "NVIDIA H100 80GB HBM3"
    assert _gates("llm_throughput", "offline", h100)["output_tokens_per_s"] == Threshold(">=", 1500.0)
    assert _gates("llm_throughput", "single", h100)["latency_p99_ms"] == Threshold("<=", 2000.0)
    assert _gates("resnet50", "Offline", h100)["samples_per_s"] == Threshold(">=", 20000.0)
    assert _gates("resnet50", "SingleStream", h100)["latency_p90_ms"] == Threshold("<=", 1.5)
    assert _gates("llm_throughput", "offline", "NVIDIA A30")["output_tokens_per_s"] == Threshold(">=", 300.0)
    assert _gates("llm_throughput", "single", "NVIDIA A30")["latency_p99_ms"] == Threshold("<=", 6000.0)


def test_gpu_type_keys_match_whole_words_and_the_longest_wins() -> None:
    table = {"default": {}, "A10": {}, "A100": {}, "H200": {}, "H200 NVL": {}}
    assert gpu_key(table, "NVIDIA A100-SXM4-80GB") == "A100"
    assert gpu_key(table, "NVIDIA A10") == "A10"
    assert gpu_key(table, "NVIDIA A10G") == "default"
    assert gpu_key(table, "NVIDIA H200") == "H200"
    assert gpu_key(table, "nvidia h200 nvl") == "H200 NVL"  # more specific than "H200", whatever the dict order
    assert gpu_key(table, "NVIDIA GH200 480GB") == "default"  # Grace Hopper is not an H200
    assert gpu_key(table, None) == "default"


@pytest.mark.parametrize("gpu", [*OTHER_GPUS, None])
def test_a_gpu_without_an_entry_gets_no_floor_and_a_note_saying_so(gpu: str | None) -> None:
    for benchmark, scenario in (("llm_throughput", "offline"), ("llm_throughput", "single"),
                                ("resnet50", "Offline"), ("resnet50", "SingleStream")):
        table = LLAMA31_8B.threshold_table(benchmark, scenario)
        gates = select_gates(table, gpu)
        assert gates == table["default"], f"{gpu} must not borrow another GPU type's floors"
        assert all(t == Threshold(">", 0.0) or name == "result_valid" for name, t in gates.items())
        [note] = gate_notes(table, gpu, benchmark, scenario)
        assert note.startswith(f"no regression floor for {gpu or 'this machine (no GPU seen)'} in "
                               f"{benchmark}/{scenario} (floors exist for H100, H200")
        assert f"thresholds[{benchmark!r}][{scenario!r}] in bench/profiles.py" in note


def test_no_note_where_no_gpu_type_has_a_floor() -> None:
    # the tiny profile gates nothing per GPU; resnet50 Server has no floor on any GPU type: nothing to explain
    for gpu in ("NVIDIA RTX 6000 Ada Generation", None):
        assert gate_notes(TINY.threshold_table("llm_throughput", "offline"), gpu, "llm_throughput", "offline") == []
        assert gate_notes(LLAMA31_8B.threshold_table("resnet50", "Server"), gpu, "resnet50", "Server") == []


def test_every_gpu_entry_keeps_the_default_gates() -> None:
    """A GPU-type entry only adds floors: it never drops a gate that every other GPU gets (e.g. validity)."""
    for profile in PROFILES.values():
        for benchmark, scenarios in profile.thresholds.items():
            for scenario, table in scenarios.items():
                assert "default" in table, f"{profile.name} {benchmark}/{scenario}: no 'default' (other GPUs)"
                for key, gates in table.items():
                    missing = set(table["default"]) - set(gates)
                    assert not missing, f"{profile.name} {benchmark}/{scenario}/{key} drops {sorted(missing)}"


@dataclass(frozen=True)
class _StandInParams:
    pass


def _stand_in_workload(metrics: dict[str, float]) -> Any:
    """A stand-in for a benchmark module (Params + run) so run_task runs without vLLM."""
    def run(scenario: str, params: _StandInParams, ctx: WorkloadContext) -> Measurement:
        return Measurement(metrics=dict(metrics))

    return SimpleNamespace(load=lambda: SimpleNamespace(Params=_StandInParams, run=run))


@pytest.mark.parametrize(("gpu", "floor", "noted"), [
    ("NVIDIA H200", Threshold(">=", 1500.0), False),
    ("NVIDIA RTX 6000 Ada Generation", Threshold(">", 0.0), True),
])
def test_the_gate_choice_reaches_the_result(gpu: str, floor: Threshold, noted: bool, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    [planned] = build_plan([("llm_throughput", "offline")], LLAMA31_8B)
    planned.write(tmp_path / "g.json")
    group = RunGroup.read(tmp_path / "g.json")  # as the workload process reads it
    task = group.tasks[0]
    task.params = {}
    monkeypatch.setattr(bench_run, "get_benchmark", lambda name: _stand_in_workload(
        {"output_tokens_per_s": 1000.0, "total_tokens_per_s": 9000.0, "requests_per_s": 8.0}))
    ctx = WorkloadContext(model="", engine_kind="none", engine_kwargs={}, pool=None,  # type: ignore[arg-type]
                          artifacts_dir=tmp_path, log=lambda m: None)
    result = bench_run.run_task(task, group, ctx, {"gpu": {"name": gpu, "count": 1}})
    assert result.thresholds["output_tokens_per_s"] == floor
    assert result.passed is noted  # 1,000 tok/s misses the H200 floor; elsewhere it is only reported
    notes = [n for n in result.to_dict()["notes"] if n.startswith("no regression floor")]
    assert notes == ([f"no regression floor for {gpu} in llm_throughput/offline (floors exist for H100, H200, A30): "
                      "its speed is reported and must be produced, but no floor applies; to gate it, add an entry "
                      "for your GPU type under thresholds['llm_throughput']['offline'] in bench/profiles.py"]
                     if noted else [])


def _cell(gate: Threshold | None) -> str:
    if gate is None:
        return "–"
    return f"{gate.op.replace('>=', '≥').replace('<=', '≤')} {gate.value:,g}"


def test_readme_gate_table_agrees_with_the_profile() -> None:
    """Each floor row of README "Speed gates per GPU type" starts with what bench/profiles.py holds."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Speed gates per GPU type", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    gpu_types = ["H100", "H200", "A30"]
    expected = []
    for benchmark, scenarios in LLAMA31_8B.thresholds.items():
        for scenario, table in scenarios.items():
            floored = {m for key, gates in table.items() if key != "default"
                       for m, t in gates.items() if t != table["default"].get(m)}
            for metric in sorted(floored):
                cells = [_cell(table.get(g, {}).get(metric)) for g in gpu_types]
                expected.append(f"| `{benchmark}` `{scenario}` | `{metric}` | " + " | ".join(cells)
                                + f" | {_cell(table['default'].get(metric))} |")
    assert expected
    for row in expected:
        assert any(line.startswith(row) for line in rows), f"README lacks the row {row!r}; it has {rows}"
    assert len(rows) == len(expected), "the README lists a floor that bench/profiles.py does not hold"
    assert re.search(r"no regression floor for", section), "README must quote the other-GPU note"
