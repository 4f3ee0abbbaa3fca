"""Run against run (or against history): one row per benchmark × scenario × key metric with the baseline, the
candidate, the change in % and a verdict — improved, regressed or unchanged against a threshold (default 5%), the
direction from the metric (latency down is better, throughput and scores up); "not comparable: FIELD differs" when
the two results' history keys differ (bench/results/fingerprint.py); ERROR and LoadGen-INVALID results shown as such,
never as numbers. The rows are one frozen object; table, markdown, JSON and CSV are views of it.

`bench compare BASE CAND` uses this for one run per side; several runs per side are repeats and get the overhead
verdicts of bench/results/compare.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.results.fingerprint import differences, history_key
from bench.results.schema import Result
from bench.workloads import overhead_metrics

DEFAULT_THRESHOLD = 0.05
HISTORY_RUNS = 5
FORMATS = ("table", "markdown", "json", "csv")
LOWER_IS_BETTER = re.compile(r"(_ms|latency|_s|elapsed|error|errors|errors_total|failure_rate|mismatches|lag)"
                             r"(_|$)")
HIGHER_IS_BETTER = re.compile(r"(_per_s|throughput|goodput|accuracy|rouge|qps)")
NEUTRAL = re.compile(r"^(num_|questions$|gen_len$|gen_num$|passes$|points|result_valid$|total_samples)")
MAX_KEY_METRICS = 6


def direction(metric: str) -> int:
    """+1 when higher is better, −1 when lower is, 0 for counts that only describe the run."""
    if NEUTRAL.search(metric):
        return 0
    if HIGHER_IS_BETTER.search(metric):
        return 1
    return -1 if LOWER_IS_BETTER.search(metric) else 1


def key_metrics(result: Result) -> list[str]:
    """The metrics a comparison and the report's trends follow: the overhead metrics its workload declares, then the
    gated ones, without counts; at most MAX_KEY_METRICS."""
    declared = list(overhead_metrics(result.benchmark).get(result.scenario, {}))
    chosen = [m for m in dict.fromkeys([*declared, *result.thresholds]) if direction(m) != 0]
    return [m for m in chosen if m in result.metrics][:MAX_KEY_METRICS]


def result_key(result: Result) -> str:
    return result.key + (f"@{result.variant}" if result.variant else "")


@dataclass(frozen=True)
class ChangeRow:
    benchmark: str
    scenario: str
    metric: str
    baseline: float | None
    candidate: float | None
    change_pct: float | None
    verdict: str  # improved, regressed, unchanged, not comparable, ERROR, INVALID, missing
    note: str = ""
    baseline_runs: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.benchmark}/{self.scenario}"


@dataclass(frozen=True)
class Changes:
    baseline: str  # a run id, or "history (median of the last N runs per history key)"
    candidate: str
    threshold: float
    rows: tuple[ChangeRow, ...]
    skipped: tuple[str, ...]

    @property
    def regressions(self) -> list[ChangeRow]:
        return [r for r in self.rows if r.verdict in ("regressed", "ERROR", "INVALID")]

    @property
    def comparable(self) -> bool:
        return any(not r.verdict.startswith("not comparable") for r in self.rows)

    def exit_code(self, fail_on_regression: bool) -> int:
        return 1 if fail_on_regression and self.regressions else 0

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "candidate": self.candidate, "threshold": self.threshold,
                "rows": [{**asdict(r), "baseline_runs": list(r.baseline_runs)} for r in self.rows],
                "regressions": len(self.regressions), "skipped": list(self.skipped)}

    def by_result(self) -> dict[str, dict[str, dict[str, Any]]]:
        """result key → metric → {baseline, candidate, change_pct, verdict}: what the HTML report shows."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for r in self.rows:
            out.setdefault(r.key, {})[r.metric] = {"baseline": r.baseline, "candidate": r.candidate,
                                                   "change_pct": r.change_pct, "verdict": r.verdict}
        return out


def _state(result: Result) -> str | None:
    if result.error:
        return "ERROR"
    if result.metrics.get("result_valid") == 0:
        return "INVALID"
    return None


def judge(metric: str, baseline: float, candidate: float, threshold: float) -> tuple[float | None, str]:
    """(change in %, verdict) of one metric."""
    if not (math.isfinite(baseline) and math.isfinite(candidate)):
        return None, "missing"
    if baseline == 0:
        return None, "unchanged" if candidate == 0 else "changed (baseline 0)"
    change = (candidate - baseline) / abs(baseline)
    sign = direction(metric)
    if abs(change) <= threshold or sign == 0:
        return change * 100, "unchanged"
    return change * 100, "improved" if change * sign > 0 else "regressed"


def compare_results(baseline: Sequence[Result], candidate: Sequence[Result], baseline_name: str,
                    candidate_name: str, threshold: float = DEFAULT_THRESHOLD) -> Changes:
    """Run against run: each candidate result against the baseline's result with the same key."""
    base = {result_key(r): r for r in baseline}
    rows: list[ChangeRow] = []
    skipped = [f"{k}: only in the baseline" for k in base if k not in {result_key(r) for r in candidate}]
    for cand in candidate:
        ref = base.get(result_key(cand))
        if ref is None:
            skipped.append(f"{result_key(cand)}: only in the candidate")
            continue
        rows += _rows(ref, cand, {m: ref.metrics.get(m) for m in key_metrics(ref) or key_metrics(cand)},
                      threshold, (baseline_name,))
    return Changes(baseline_name, candidate_name, threshold, tuple(rows), tuple(skipped))


def _rows(ref: Result | None, cand: Result, baselines: dict[str, float | None], threshold: float,
          runs: tuple[str, ...]) -> list[ChangeRow]:
    metrics = list(dict.fromkeys([*baselines, *key_metrics(cand)]))
    common = dict(benchmark=cand.benchmark, scenario=cand.scenario + (f"@{cand.variant}" if cand.variant else ""))
    differ = differences(ref, cand) if ref is not None else []
    state = _state(cand) or (_state(ref) if ref is not None else None)
    rows = []
    for metric in metrics:
        b, c = baselines.get(metric), cand.metrics.get(metric)
        if differ:
            rows.append(ChangeRow(**common, metric=metric, baseline=b, candidate=c, change_pct=None,
                                  verdict=f"not comparable: {differ[0]}", baseline_runs=runs))
        elif state:
            side = "candidate" if _state(cand) else "baseline"
            why = cand.error if _state(cand) == "ERROR" else (ref.error if ref is not None and ref.error else "")
            rows.append(ChangeRow(**common, metric=metric, baseline=b, candidate=c, change_pct=None, verdict=state,
                                  note=f"{side}: {why or 'LoadGen called it INVALID'}", baseline_runs=runs))
        elif b is None or c is None:
            side = "baseline" if b is None else "candidate"
            rows.append(ChangeRow(**common, metric=metric, baseline=b, candidate=c, change_pct=None,
                                  verdict="missing", note=f"no {metric} on the {side} side", baseline_runs=runs))
        else:
            change, verdict = judge(metric, b, c, threshold)
            rows.append(ChangeRow(**common, metric=metric, baseline=b, candidate=c, change_pct=change,
                                  verdict=verdict, baseline_runs=runs))
    return rows


def compare_history(candidate: Sequence[Result], candidate_name: str,
                    history: Callable[[str, str], list[dict[str, Any]]], last: int = HISTORY_RUNS,
                    threshold: float = DEFAULT_THRESHOLD) -> Changes:
    """Each candidate result against the median of the last `last` earlier runs with its history key;
    `history(history_key, metric)` gives the earlier points (the store's)."""
    rows: list[ChangeRow] = []
    skipped: list[str] = []
    for cand in candidate:
        key = history_key(cand)
        baselines: dict[str, float | None] = {}
        runs: set[str] = set()
        for metric in key_metrics(cand):
            points = [p for p in history(key, metric) if p["valid"]][-last:]
            runs |= {p["run_id"] for p in points}
            baselines[metric] = statistics.median(p["value"] for p in points) if points else None
        if not any(v is not None for v in baselines.values()):
            skipped.append(f"{result_key(cand)}: no earlier run with its history key ({key}) in the store")
            continue
        rows += _rows(None, cand, baselines, threshold, tuple(sorted(runs)))
    return Changes(f"history (median of the last {last} runs per history key)", candidate_name, threshold,
                   tuple(rows), tuple(skipped))


# --- views ------------------------------------------------------------------------------------------------------

COLUMNS = ("benchmark", "scenario", "metric", "baseline", "candidate", "change", "verdict")


def _number(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:.4g}"


def _cells(row: ChangeRow) -> list[str]:
    change = "–" if row.change_pct is None else f"{row.change_pct:+.1f}%"
    verdict = row.verdict + (f" ({row.note})" if row.note else "")
    return [row.benchmark, row.scenario, row.metric, _number(row.baseline), _number(row.candidate), change, verdict]


def render(changes: Changes, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(changes.to_dict(), indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*COLUMNS[:5], "change_pct", "verdict", "note"])
        for r in changes.rows:
            writer.writerow([r.benchmark, r.scenario, r.metric, r.baseline, r.candidate,
                             None if r.change_pct is None else round(r.change_pct, 3), r.verdict, r.note])
        return out.getvalue()
    cells = [_cells(r) for r in changes.rows]
    head = [f"baseline: {changes.baseline}", f"candidate: {changes.candidate}",
            f"threshold: ±{changes.threshold:.0%} (direction from the metric: latency down, throughput up)", ""]
    if fmt == "markdown":
        lines = [f"| {' | '.join(COLUMNS)} |", "|" + "---|" * len(COLUMNS),
                 *(f"| {' | '.join(c)} |" for c in cells)]
    else:
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(COLUMNS)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip(),
                 *("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip() for c in cells)]
    tail = [f"- skipped: {s}" for s in changes.skipped]
    regressions = changes.regressions
    tail.append(f"{len(regressions)} regression(s) of {len(changes.rows)} row(s)"
                + (": " + ", ".join(f"{r.key} {r.metric}" for r in regressions) if regressions else ""))
    return "\n".join([*head, *lines, "", *tail]) + "\n"
