"""The outputs of an overhead run (bench/overhead.py), rewritten after every repeat:

    overhead.json        the comparison asked for, every repeat (order, time, node, GPU, variant, values, status),
                         every metric's estimate, interval, margin and verdict, warnings, the overall verdict
    summary.md           a section "Overhead" in the seed's shape (metric | baseline | candidate | overhead | verdict)
                         with each metric's numbers, the repeats in run order, and the warnings
    overhead-<benchmark>.png
                         per benchmark: each repeat's value for both sides in run order, and the estimate with its
                         interval against the margin (matplotlib, Agg; skipped with a note if matplotlib is missing)
"""

from __future__ import annotations

import json
import os
import statistics
from typing import TYPE_CHECKING, Any

from bench.results.compare import MetricRow, render
from bench.results.rundir import atomic_write

if TYPE_CHECKING:
    from bench.overhead import OverheadRun

OUTLIER_Z = 5.0  # modified z-score (|x − median| / (1.4826 · MAD)) beyond which a repeat is called an outlier
OUTLIER_MIN_PCT = 1.0  # ... and at least this far from the median in %: with near-identical runs MAD is ~0


def write_outputs(run: OverheadRun) -> None:
    warnings = outlier_warnings(run) + [f"run {r.order} ({r.side}): {w}" for r in run.records for w in r.warnings]
    data = overhead_data(run, warnings)
    atomic_write(run.run_dir.path / "overhead.json", json.dumps(data, indent=2) + "\n")
    plots = write_plots(run)
    run.run_dir.set_section("Overhead", section(run, warnings, plots))


def overhead_data(run: OverheadRun, warnings: list[str]) -> dict[str, Any]:
    verdicts = run.verdicts
    groups = []
    for group in run.plan:
        groups.append({"group": group.name, "tasks": [t.key for t in group.tasks],
                       "repeats": [r.to_dict() for r in run.records if r.group == group.name]})
    return {
        "run_id": run.run_dir.run_id,
        "comparison": run.run_dir.header.get("comparison"),
        "node": run.node,
        "verdict": "NOT COMPARABLE" if run.refused else (str(verdicts.verdict) if verdicts else "INCONCLUSIVE"),
        "exit_code": run.exit_code,
        "refused": run.refused,
        "complete": len([r for r in run.records if not r.interrupted]) == len(run.plan) * 2 * run.repeats,
        "groups": groups,
        "metrics": [row.to_dict() for row in verdicts.rows] if verdicts else [],
        "skipped": list(verdicts.skipped) if verdicts else [],
        "warnings": [*(verdicts.warnings if verdicts else ()), *warnings],
    }


def outlier_warnings(run: OverheadRun) -> list[str]:
    """A repeat far from its side's median (hyperfine's and criterion's practice: named, never dropped)."""
    out = []
    for side in ("baseline", "candidate"):
        records = [r for r in run.records if r.side == side and not r.interrupted]
        series: dict[tuple[str, str], list[tuple[int, float]]] = {}
        for r in records:
            for key, values in r.values.items():
                for metric, value in values.items():
                    series.setdefault((key, metric), []).append((r.order, value))
        for (key, metric), points in series.items():
            if len(points) < 3:
                continue
            values = [v for _, v in points]
            median = statistics.median(values)
            mad = statistics.median(abs(v - median) for v in values)
            if mad == 0:
                continue
            for order, value in points:
                z = abs(value - median) / (1.4826 * mad)
                if z > OUTLIER_Z and abs(value - median) > abs(median) * OUTLIER_MIN_PCT / 100:
                    out.append(f"{key} {metric}: {side} run {order} = {value:.4g} is an outlier (modified z "
                               f"{z:.1f}, side median {median:.4g}); kept — a quiet machine or more repeats help")
    return out


def section(run: OverheadRun, warnings: list[str], plots: list[str]) -> str:
    lines = [*(f"- {line}" for line in run.lines()), ""]
    if run.refused:
        lines += [f"**{run.refused}** — no verdict.", ""]
    elif run.verdicts is not None:
        lines += [render(run.verdicts).rstrip(), ""]
    else:
        lines += ["_No verdict yet: both sides need a finished repeat._", ""]
    lines += ["| run | variant | repeat | group | node | duration | values | status |", "|---" * 8 + "|"]
    for r in run.records:
        values = "<br>".join(f"{k} {m} = {v:.4g}" for k, vals in r.values.items() for m, v in vals.items()) or "–"
        status = ", ".join(sorted(set(r.status.values()))) or "–"
        lines.append(f"| {r.order} | {r.variant} ({r.side}) | {r.repeat} | {r.group} | {r.node or '–'} | "
                     f"{r.duration_s:.0f} s | {values} | {'interrupted' if r.interrupted else status} |")
    lines += [""] + [f"- warning: {w}" for w in warnings]
    lines += [f"- plot: [{p}]({p})" for p in plots]
    return "\n".join(lines)


# --- plots ---------------------------------------------------------------------------------------------------------


def write_plots(run: OverheadRun) -> list[str]:
    """One PNG per benchmark; returns the file names written (none without matplotlib or results)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    rows_by_benchmark: dict[str, list[MetricRow]] = {}
    for row in (run.verdicts.rows if run.verdicts else ()):
        rows_by_benchmark.setdefault(row.benchmark, []).append(row)
    written = []
    for benchmark, rows in rows_by_benchmark.items():
        fig, axes = plt.subplots(len(rows), 2, figsize=(10, 2.6 * len(rows)), squeeze=False,
                                 gridspec_kw={"width_ratios": [3, 2]})
        for (left, right), row in zip(axes, rows, strict=True):
            _plot_values(left, run, row)
            _plot_interval(right, row)
        fig.suptitle(f"{benchmark}: {run.comparison.candidate.name} vs {run.comparison.baseline.name} "
                     f"({run.repeats} repeats per side)")
        fig.tight_layout()
        name = f"overhead-{benchmark}.png"
        tmp = run.run_dir.path / f".{name}.tmp.png"
        fig.savefig(tmp, dpi=90)
        plt.close(fig)
        os.replace(tmp, run.run_dir.path / name)
        written.append(name)
    return written


def _plot_values(ax: Any, run: OverheadRun, row: MetricRow) -> None:
    key = f"{row.benchmark}/{row.scenario}"
    for side, marker in (("baseline", "o"), ("candidate", "s")):
        points = [(r.order, r.values[key][row.metric]) for r in run.records
                  if r.side == side and not r.interrupted and row.metric in r.values.get(key, {})]
        if points:
            ax.plot(*zip(*points, strict=True), marker, label=side, linestyle="none")
    unit = " (ms)" if row.kind == "latency" else ""
    ax.set_title(f"{row.scenario} {row.metric}{unit} by run order", fontsize=9)
    ax.set_xlabel("run order")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _plot_interval(ax: Any, row: MetricRow) -> None:
    c = row.comparison
    throughput = row.kind == "throughput"
    symbol = "R − 1 (%)" if throughput else "Δ (ms)"
    margin = -row.margin.max_overhead * 100 if throughput else row.margin.max_delta_ms
    ax.axvline(margin, color="red", linestyle="--", label="margin")
    ax.axvline(0, color="grey", linewidth=0.8)
    if c is not None:
        def scale(x: float) -> float:
            return (x - 1) * 100 if throughput else x

        if c.rank:
            ax.plot([scale(c.lower), scale(c.upper)], [0, 0], linewidth=6, alpha=0.5, label=f"{c.confidence:.0%} CI")
        ax.plot([scale(c.estimate)], [0], "k|", markersize=20, label="estimate")
        ax.set_title(f"{symbol}: {row.verdict}", fontsize=9)
    else:
        ax.set_title(f"{symbol}: no figure ({row.verdict})", fontsize=9)
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper right")
