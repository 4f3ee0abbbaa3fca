"""summary.md: what ran, where, whether it passed, the key numbers, and why anything failed."""

from __future__ import annotations

from typing import Any

from bench.profiles import is_gate_note
from bench.results.schema import Result

_HEADER_FIELDS = ("run_id", "profile", "executor", "engine", "engine_args", "device", "model", "weights", "server",
                  "endpoint", "size", "variant", "repeat")


def _status(result: Result) -> str:
    if result.error:
        return "ERROR"
    return "PASS" if result.passed else "FAIL"


def _metric_cell(result: Result) -> str:
    shown = result.thresholds or [k for k in result.metrics if "." not in k]  # dotted ones: tables below
    return "<br>".join(f"{k} = {result.metrics[k]:.4g}" for k in shown if k in result.metrics) or "–"


def _group_tables(results: list[Result]) -> list[str]:
    """Metrics named `<metric>.<group>` (e.g. mmlu_pro's `accuracy.biology`) as one table per result: a row per
    group, a column per metric."""
    lines: list[str] = []
    for r in results:
        grouped: dict[str, dict[str, float]] = {}
        for name, value in r.metrics.items():
            metric, dot, group = name.partition(".")
            if dot:
                grouped.setdefault(group, {})[metric] = value
        if not grouped:
            continue
        columns = list(dict.fromkeys(m for row in grouped.values() for m in row))
        lines += ["", f"### {r.key} by category", "", f"| category | {' | '.join(columns)} |",
                  "|---" * (len(columns) + 1) + "|"]
        for group in sorted(grouped):
            cells = " | ".join(f"{grouped[group][c]:.4g}" if c in grouped[group] else "–" for c in columns)
            lines.append(f"| {group.replace('_', ' ')} | {cells} |")
    return lines


def _notes(header: dict[str, Any], results: list[Result]) -> list[str]:
    """The notes that explain a result, grouped per benchmark/scenario: every note of a result that failed or
    errored, and of one that passed the notes saying a gate did not apply (`is_gate_note`). Notes the header lists
    (the profile's, the plan's: every result carries them) are not repeated."""
    in_header = set(header.get("notes", []))
    lines: list[str] = []
    for r in results:
        notes = [n for n in dict.fromkeys(r.notes) if n not in in_header and (not r.passed or is_gate_note(n))]
        if notes:
            lines += [f"- `{r.key}`:", *(f"  - {n}" for n in notes)]
    return ["", "## Notes", "", *lines] if lines else []


def render_summary(header: dict[str, Any], results: list[Result], sections: dict[str, str] | None = None) -> str:
    """The whole summary.md; `sections` (title -> markdown, e.g. the overhead verdicts) follow the results table."""
    lines = ["# kcloud-mlperf run summary", ""]
    lines += [f"- **{k}**: {header[k]}" for k in _HEADER_FIELDS if header.get(k)]
    for note in header.get("notes", []):
        lines.append(f"- **note**: {note}")
    lines.append("")
    extra = [line for title, text in (sections or {}).items() for line in ("", f"## {title}", "", text.rstrip())]
    if not results:
        lines.append("_No results yet._" if not extra else "_No single-run results: see below._")
        return "\n".join(lines + extra) + "\n"
    passed = sum(r.passed for r in results)
    lines += [f"**{passed}/{len(results)} passed**", ""]
    lines += ["| benchmark | scenario | status | metrics | gates | duration |", "|---|---|---|---|---|---|"]
    for r in results:
        gates = "<br>".join(f"{k} {t}" for k, t in r.thresholds.items()) or "–"
        lines.append(
            f"| {r.benchmark} | {r.scenario} | {_status(r)} | {_metric_cell(r)} | {gates} | {r.duration_s:.1f} s |"
        )
    lines += _group_tables(results)
    lines += extra
    problems = [r for r in results if not r.passed]
    if problems:
        lines += ["", "## Failures", ""]
        for r in problems:
            why = r.error or "; ".join(r.failed_thresholds())
            lines.append(f"- `{r.key}`: {why}")
    lines += _notes(header, results)
    env = next((r.environment for r in results if r.environment), None)
    if env:
        lines += ["", "## Environment", ""]
        for key, value in env.items():
            lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"
