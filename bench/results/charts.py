"""The charts of the HTML report (bench/results/report.py), drawn with matplotlib on the Agg backend and returned as
SVG strings to inline in the page.

The functions here take plain numbers (bars, curves, points), not results: report.py picks what to draw from
results.json. Every SVG is deterministic — a fixed `svg.hashsalt`, no date in the metadata (the reference's
recipe: matplotlib docs and pytest-mpl) — and its ids carry the chart's own prefix, so that several SVGs in one HTML
document never resolve each other's `#id` references. Text is drawn as paths (`svg.fonttype = path`): the page needs
no font.
"""

from __future__ import annotations

import io
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RC = {
    "svg.hashsalt": "fixed",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.frameon": False,
}
PANEL_W = 3.4  # inches per panel (SVG: 72 pt per inch)
PANEL_H = 2.8
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
INVALID = "#d62728"


@dataclass(frozen=True)
class Curve:
    """One line of a panel: y over x (same length), drawn with markers."""

    label: str
    x: Sequence[float]
    y: Sequence[float]


@dataclass(frozen=True)
class TrendPoint:
    """One run's value of a metric in a history (report.py's `history` argument)."""

    run_id: str
    started_at: str
    value: float
    valid: bool = True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # explicit: never a display backend, whatever the environment says
    import matplotlib.pyplot as plt

    return plt


def _figure(panels: int, height: float = PANEL_H, width: float | None = None) -> tuple[Any, list[Any]]:
    plt = _pyplot()
    fig, axes = plt.subplots(1, panels, figsize=(width or max(PANEL_W * panels, 4.8), height), squeeze=False,
                             layout="constrained")
    return fig, list(axes[0])


def to_svg(fig: Any, prefix: str) -> str:
    """The figure as an `<svg>` element to put into HTML (no XML declaration, DOCTYPE, metadata or namespace
    declarations: the HTML parser knows SVG), its ids prefixed with `prefix`; closes the figure."""
    plt = _pyplot()
    try:
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)  # inline SVG in HTML needs no namespace URLs
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", prefix)
    svg = re.sub(r'(\bid="|href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{safe}-{m.group(2)}", svg)
    return svg.replace("<svg ", '<svg role="img" ', 1).strip() + "\n"


def _label_bars(ax: Any, bars: Any, values: Sequence[float]) -> None:
    for bar, value in zip(bars, values, strict=True):
        text = f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
        ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 1), textcoords="offset points")


def bars(title: str, panels: Sequence[tuple[str, Mapping[str, float]]], ylabel: str, prefix: str,
         flagged: Mapping[str, Sequence[str]] | None = None) -> str | None:
    """One panel per (panel title, {bar label: value}), each with its own y scale; `flagged`: per panel title the
    bar labels to draw as invalid (red, hatched). None when no panel has a finite value."""
    panels = [(name, {k: v for k, v in values.items() if _finite(v)}) for name, values in panels]
    panels = [(name, values) for name, values in panels if values]
    if not panels:
        return None
    with _rc():
        fig, axes = _figure(len(panels))
        for ax, (name, values) in zip(axes, panels, strict=True):
            labels = list(values)
            bad = set((flagged or {}).get(name, ()))
            colors = [INVALID if label in bad else COLORS[i % len(COLORS)] for i, label in enumerate(labels)]
            drawn = ax.bar(labels, [values[k] for k in labels], color=colors,
                           hatch=[("//" if label in bad else "") for label in labels])
            _label_bars(ax, drawn, [values[k] for k in labels])
            ax.set_title(name, color=INVALID if "INVALID" in name else "black")
            ax.set_ylabel(ylabel)
            ax.margins(y=0.15)
            ax.grid(axis="x", visible=False)
            if bad:
                ax.text(0.99, 0.99, "red: INVALID", transform=ax.transAxes, ha="right", va="top", fontsize=7,
                        color=INVALID)
        fig.suptitle(title)
        return to_svg(fig, prefix)


def curves(title: str, xlabel: str, panels: Sequence[tuple[str, Sequence[Curve]]], prefix: str,
           invalid_x: Sequence[float] = ()) -> str | None:
    """One panel per (y label, curves over the same x axis); `invalid_x`: x values whose points were INVALID (a red
    ring around them). None when no curve has a finite point."""
    cleaned = []
    for ylabel, lines in panels:
        kept = []
        for line in lines:
            pts = sorted((x, y) for x, y in zip(line.x, line.y, strict=True) if _finite(x) and _finite(y))
            if pts:
                kept.append(Curve(line.label, [p[0] for p in pts], [p[1] for p in pts]))
        if kept:
            cleaned.append((ylabel, kept))
    if not cleaned:
        return None
    bad = set(invalid_x)
    with _rc():
        fig, axes = _figure(len(cleaned))
        for ax, (ylabel, lines) in zip(axes, cleaned, strict=True):
            for i, line in enumerate(lines):
                ax.plot(line.x, line.y, marker="o", markersize=4, label=line.label, color=COLORS[i % len(COLORS)],
                        linestyle="--" if "median" in line.label or "p50" in line.label else "-")
                rings = [(x, y) for x, y in zip(line.x, line.y, strict=True) if x in bad]
                if rings:
                    ax.plot(*zip(*rings, strict=True), marker="o", markersize=9, markerfacecolor="none",
                            markeredgecolor=INVALID, linestyle="none", label="INVALID point" if i == 0 else None)
            xs = sorted({x for line in lines for x in line.x})
            if len(xs) <= 8:
                ax.set_xticks(xs, [f"{x:g}" for x in xs])
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.margins(x=0.1, y=0.15)
            ax.set_ylim(bottom=0)
            ax.legend(loc="best")
        fig.suptitle(title)
        return to_svg(fig, prefix)


def trend(title: str, points: Sequence[TrendPoint], ylabel: str, prefix: str) -> str | None:
    """A metric over runs, oldest first, the last point being this run: a line with markers (hollow red for an
    INVALID run), and — with at least two earlier valid points — their median as a dashed baseline over the band of
    their range. None without a finite point."""
    pts = [p for p in points if _finite(p.value)]
    if not pts:
        return None
    xs = list(range(len(pts)))
    earlier = [p.value for p in pts[:-1] if p.valid]
    with _rc():
        fig, axes = _figure(1, height=2.4, width=6.4)
        ax = axes[0]
        ax.plot(xs, [p.value for p in pts], color=COLORS[0], linewidth=1.2, zorder=2)
        good = [(x, p.value) for x, p in zip(xs, pts, strict=True) if p.valid]
        bad = [(x, p.value) for x, p in zip(xs, pts, strict=True) if not p.valid]
        if good:
            ax.plot(*zip(*good, strict=True), marker="o", markersize=4, linestyle="none", color=COLORS[0],
                    zorder=3)
        if bad:
            ax.plot(*zip(*bad, strict=True), marker="o", markersize=6, linestyle="none", markerfacecolor="none",
                    markeredgecolor=INVALID, label="INVALID run", zorder=3)
        ax.plot([xs[-1]], [pts[-1].value], marker="D", markersize=7, linestyle="none", color=COLORS[1],
                label="this run", zorder=4)
        if len(earlier) >= 2:
            median = statistics.median(earlier)
            ax.axhspan(min(earlier), max(earlier), color=COLORS[0], alpha=0.08, zorder=1)
            ax.axhline(median, color="grey", linestyle="--", linewidth=1,
                       label=f"baseline: median of {len(earlier)} earlier ({median:.4g})", zorder=1)
        ticks = xs if len(xs) <= 12 else xs[:: math.ceil(len(xs) / 12)]
        ax.set_xticks(ticks, [_short_time(pts[i].started_at) or pts[i].run_id[:15] for i in ticks], rotation=30,
                      ha="right", fontsize=7)
        ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_ylabel(ylabel)
        ax.margins(y=0.2)
        ax.legend(loc="best")
        ax.set_title(title)
        return to_svg(fig, prefix)


def repeats(title: str, panels: Sequence[tuple[str, Mapping[str, Sequence[tuple[float, float]]]]],
            prefix: str) -> str | None:
    """An overhead run's repeats: one panel per metric, each side's values (run order, value) as markers. None
    without a point."""
    panels = [(name, {side: [p for p in pts if _finite(p[1])] for side, pts in sides.items()})
              for name, sides in panels]
    panels = [(name, sides) for name, sides in panels if any(sides.values())]
    if not panels:
        return None
    with _rc():
        fig, axes = _figure(len(panels))
        for ax, (name, sides) in zip(axes, panels, strict=True):
            for i, (side, pts) in enumerate(sides.items()):
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker="os^v"[i % 4], linestyle="none", label=side,
                            color=COLORS[i % len(COLORS)])
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("run order")
            ax.legend(loc="best")
        fig.suptitle(title)
        return to_svg(fig, prefix)


def _short_time(iso: str) -> str:
    """`2026-12-02T03:07:40+00:00` → `12-02 03:07` (the trend's tick labels); '' when not an ISO time."""
    found = re.match(r"\d{4}-(\d\d-\d\d)[T ](\d\d:\d\d)", iso or "")
    return f"{found.group(1)} {found.group(2)}" if found else ""


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _rc() -> Any:
    return _pyplot().rc_context(RC)
