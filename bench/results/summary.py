"""summary.md: what ran, where, whether it passed, the key numbers, and why anything failed."""

from __future__ import annotations

from typing import Any

from bench.results.schema import Result

_HEADER_FIELDS = ("run_id", "profile", "executor", "engine", "device", "model", "size")


def _status(result: Result) -> str:
    if result.error:
        return "ERROR"
    return "PASS" if result.passed else "FAIL"


def _metric_cell(result: Result) -> str:
    shown = result.thresholds or result.metrics
    return "<br>".join(f"{k} = {result.metrics[k]:.4g}" for k in shown if k in result.metrics) or "–"


def render_summary(header: dict[str, Any], results: list[Result]) -> str:
    lines = ["# kcloud-mlperf run summary", ""]
    lines += [f"- **{k}**: {header[k]}" for k in _HEADER_FIELDS if header.get(k)]
    for note in header.get("notes", []):
        lines.append(f"- **note**: {note}")
    lines.append("")
    if not results:
        lines.append("_No results yet._")
        return "\n".join(lines) + "\n"
    passed = sum(r.passed for r in results)
    lines += [f"**{passed}/{len(results)} passed**", ""]
    lines += ["| benchmark | scenario | status | metrics | gates | duration |", "|---|---|---|---|---|---|"]
    for r in results:
        gates = "<br>".join(f"{k} {t}" for k, t in r.thresholds.items()) or "–"
        lines.append(
            f"| {r.benchmark} | {r.scenario} | {_status(r)} | {_metric_cell(r)} | {gates} | {r.duration_s:.1f} s |"
        )
    problems = [r for r in results if not r.passed]
    if problems:
        lines += ["", "## Failures", ""]
        for r in problems:
            why = r.error or "; ".join(r.failed_thresholds())
            lines.append(f"- `{r.key}`: {why}")
    env = next((r.environment for r in results if r.environment), None)
    if env:
        lines += ["", "## Environment", ""]
        for key, value in env.items():
            lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"
