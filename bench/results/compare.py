"""`bench compare`: overhead verdicts of a candidate against a baseline, from finished runs.

Each side is one or more run directories; one run is one repeat (a fresh process, one figure per metric). For every
benchmark × scenario that both sides ran, every metric its workload declares in `OVERHEAD_METRICS` is compared with
`bench.metrics.overhead.compare` under the profile's margin (`Profile.overhead_margins`, or the command line's). A
run whose result errored, that LoadGen called INVALID (`result_valid` 0), or that lacks the metric counts as invalid:
the metric is INCONCLUSIVE. Runs that measured different things (benchmark × scenario, model, sizes, device, GPU
model) are refused as "not comparable". The comparison is a frozen object; the markdown table and the JSON are two
views of it.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.metrics.overhead import Margin, MetricVerdict, SideSummary, Verdict, compare, overall
from bench.profiles import PROFILES, OverheadMargins
from bench.results.fingerprint import identity
from bench.results.rundir import load_results
from bench.results.schema import Result
from bench.workloads import overhead_metrics

EXIT_CODES = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3}
MIN_REPEATS = 3  # the smallest n per side with an exact 90% interval (bench.metrics.overhead.min_repeats_per_side)


class NotComparable(BenchError):
    """The two sides did not measure the same thing; the message is `not comparable: FIELD differs (A: x, B: y)`."""


@dataclass(frozen=True)
class Run:
    """One finished run: its id, directory and results by `benchmark/scenario`."""

    run_id: str
    path: Path
    results: dict[str, Result]


def resolve_run(spec: str, results_dir: Path) -> Run:
    """A run directory given as a path, or a run id (or `latest`) under `results_dir`."""
    for path in (Path(spec), results_dir / spec):
        if (path / "results.json").is_file():
            break
    else:
        raise BenchError(f"no run {spec!r} under {results_dir} (nor a run directory at {spec}): "
                         f"see `bench results list --results-dir {results_dir}`")
    try:
        results = load_results(path)
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise BenchError(f"{path / 'results.json'} is not a results file of this version: {exc}") from None
    resolved = path.resolve()
    return Run(resolved.name, resolved, {r.key: r for r in results})


def margins_for(profile: str, max_overhead: float | None, max_p99_delta_ms: float | None
                ) -> Callable[[str, str, str, str], Margin]:
    """benchmark, scenario, metric, kind -> Margin: the command line's value where given, else the profile's."""
    table = PROFILES[profile].overhead_margins if profile in PROFILES else OverheadMargins()

    def margin(benchmark: str, scenario: str, metric: str, kind: str) -> Margin:
        if kind == "throughput":
            value = max_overhead if max_overhead is not None else table.margin(benchmark, scenario, metric, kind)
            return Margin("throughput", max_overhead=value)
        value = max_p99_delta_ms if max_p99_delta_ms is not None else table.margin(benchmark, scenario, metric, kind)
        return Margin("latency", max_delta_ms=value)

    return margin


# --- what makes two runs comparable -----------------------------------------------------------------------------


def check_comparable(baseline: Sequence[Run], candidate: Sequence[Run]) -> tuple[list[str], list[str]]:
    """The benchmark × scenario keys both sides hold, and one line per key only one side holds; raises
    NotComparable when nothing is common or a field differs between any run and the first baseline run."""
    keys_a = list(dict.fromkeys(k for run in baseline for k in run.results))
    keys_b = list(dict.fromkeys(k for run in candidate for k in run.results))
    common = [k for k in keys_a if k in keys_b]
    if not common:
        field = "benchmark"
        if {k.split("/")[0] for k in keys_a} & {k.split("/")[0] for k in keys_b}:
            field = "scenario"
        raise NotComparable(f"not comparable: {field} differs (A: {', '.join(keys_a) or 'none'}, "
                            f"B: {', '.join(keys_b) or 'none'})")
    skipped = [f"{k}: only in the baseline" for k in keys_a if k not in keys_b]
    skipped += [f"{k}: only in the candidate" for k in keys_b if k not in keys_a]
    for key in common:
        holders = [(run, run.results[key]) for run in (*baseline, *candidate) if key in run.results]
        first_run, first = holders[0]
        reference = identity(first)
        for run, result in holders[1:]:
            other = identity(result)
            for name, value in reference.items():
                if name in other and other[name] != value:
                    raise NotComparable(f"not comparable: {name} differs (A: {value}, B: {other[name]}) in {key}, "
                                        f"A = run {first_run.run_id}, B = run {run.run_id}")
    return common, skipped


# --- the comparison ---------------------------------------------------------------------------------------------


def _problem(result: Result, metric: str, kind: str) -> str | None:
    """Why this run's figure cannot count as a valid repeat, or None."""
    if result.error:
        return f"errored: {result.error}"
    if result.metrics.get("result_valid") == 0:
        return "LoadGen called it INVALID (result_valid = 0)"
    value = result.metrics.get(metric)
    if value is None:
        return f"no {metric} in its metrics"
    if not math.isfinite(value) or (kind == "throughput" and value <= 0):
        return f"{metric} = {value}"
    return None


@dataclass(frozen=True)
class MetricRow:
    """One metric of one benchmark × scenario: the verdict with its numbers (`comparison`; None when a side has no
    usable figure at all, then `problem` says why), the runs each side contributed, and a line per invalid run."""

    benchmark: str
    scenario: str
    metric: str
    kind: str
    margin: Margin
    baseline_runs: tuple[str, ...]
    candidate_runs: tuple[str, ...]
    invalid: tuple[str, ...]
    comparison: MetricVerdict | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"{self.benchmark}/{self.scenario} {self.metric}"

    @property
    def verdict(self) -> Verdict:
        return self.comparison.verdict if self.comparison else Verdict.INCONCLUSIVE

    @property
    def has_interval(self) -> bool:
        return bool(self.comparison and self.comparison.rank)

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "scenario": self.scenario, "metric": self.metric, "kind": self.kind,
                "margin": dataclasses.asdict(self.margin), "verdict": str(self.verdict),
                "baseline_runs": list(self.baseline_runs), "candidate_runs": list(self.candidate_runs),
                "invalid": list(self.invalid), "problem": self.problem,
                "comparison": self.comparison.to_dict() if self.comparison else None}


def compare_metric(key: str, metric: str, kind: str, margin: Margin, baseline: Sequence[Run],
                   candidate: Sequence[Run]) -> MetricRow:
    benchmark, scenario = key.split("/", 1)
    values: dict[str, list[float]] = {"baseline": [], "candidate": []}
    runs: dict[str, list[str]] = {"baseline": [], "candidate": []}
    invalid: list[str] = []
    for side, side_runs in (("baseline", baseline), ("candidate", candidate)):
        for run in side_runs:
            result = run.results.get(key)
            if result is None:
                continue
            runs[side].append(run.run_id)
            problem = _problem(result, metric, kind)
            if problem:
                invalid.append(f"{side} run {run.run_id}: {problem}")
            value = result.metrics.get(metric)
            if value is not None and math.isfinite(value) and (kind != "throughput" or value > 0):
                values[side].append(float(value))
    name = f"{key} {metric}"
    common = dict(benchmark=benchmark, scenario=scenario, metric=metric, kind=kind, margin=margin,
                  baseline_runs=tuple(runs["baseline"]), candidate_runs=tuple(runs["candidate"]),
                  invalid=tuple(invalid))
    empty = [side for side in values if not values[side]]
    if empty:
        return MetricRow(**common, comparison=None,
                         problem=f"no usable {metric} on the {' and '.join(empty)} side: nothing to compare")
    verdict = compare(values["baseline"], values["candidate"], margin, name=name, invalid_runs=len(invalid))
    return MetricRow(**common, comparison=verdict)


@dataclass(frozen=True)
class AccuracyRow:
    """A gated score of an accuracy benchmark (ROUGE-L, MMLU-Pro accuracy) under both sides: not a speed verdict, but
    a runtime must not change what the model computes. `changed` when a candidate value lies outside the range of the
    baseline's own values (greedy decoding on one GPU type gives identical scores, so any difference is flagged)."""

    benchmark: str
    scenario: str
    metric: str
    baseline: tuple[float, ...]
    candidate: tuple[float, ...]

    @property
    def difference(self) -> float:
        return statistics.median(self.candidate) - statistics.median(self.baseline)

    @property
    def changed(self) -> bool:
        low, high = min(self.baseline), max(self.baseline)
        return any(not low <= v <= high for v in self.candidate)

    def describe(self) -> str:
        verdict = "CHANGED beyond the baseline's own spread" if self.changed else "unchanged"
        return (f"{self.benchmark}/{self.scenario} {self.metric}: baseline {_values(self.baseline)}, candidate "
                f"{_values(self.candidate)}; difference of medians {self.difference:+.4g} — {verdict}")

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "scenario": self.scenario, "metric": self.metric,
                "baseline": list(self.baseline), "candidate": list(self.candidate), "difference": self.difference,
                "changed": self.changed}


def _values(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.4g}" for v in values)


def accuracy_rows(key: str, baseline: Sequence[Run], candidate: Sequence[Run]) -> list[AccuracyRow]:
    """Every gated metric of `key` that both sides measured in at least one run that did not error."""
    def values(runs: Sequence[Run], metric: str) -> tuple[float, ...]:
        return tuple(r.results[key].metrics[metric] for r in runs
                     if key in r.results and not r.results[key].error and metric in r.results[key].metrics)

    first = next(run.results[key] for run in baseline if key in run.results)
    benchmark, scenario = key.split("/", 1)
    rows = []
    for metric in first.thresholds:
        b, c = values(baseline, metric), values(candidate, metric)
        if b and c:
            rows.append(AccuracyRow(benchmark, scenario, metric, b, c))
    return rows


@dataclass(frozen=True)
class Comparison:
    baseline: tuple[str, ...]
    candidate: tuple[str, ...]
    rows: tuple[MetricRow, ...]
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]
    verdict: Verdict
    accuracy: tuple[AccuracyRow, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": str(self.verdict), "exit_code": self.exit_code, "baseline_runs": list(self.baseline),
                "candidate_runs": list(self.candidate), "metrics": [r.to_dict() for r in self.rows],
                "accuracy": [r.to_dict() for r in self.accuracy], "skipped": list(self.skipped),
                "warnings": list(self.warnings)}


def compare_runs(baseline: Sequence[Run], candidate: Sequence[Run], *, max_overhead: float | None = None,
                 max_p99_delta_ms: float | None = None) -> Comparison:
    """Every declared metric of every benchmark × scenario both sides hold; FAIL if any metric fails, PASS only if
    every metric passes, INCONCLUSIVE otherwise (also when no metric is declared for what both sides ran)."""
    common, skipped = check_comparable(baseline, candidate)
    rows: list[MetricRow] = []
    accuracy: list[AccuracyRow] = []
    warnings: list[str] = []
    for key in common:
        first = next(run.results[key] for run in baseline if key in run.results)
        declared = overhead_metrics(first.benchmark).get(first.scenario, {})
        if not declared:
            scores = accuracy_rows(key, baseline, candidate)
            accuracy += scores
            warnings += [f"accuracy changed under the candidate: {r.describe()}" for r in scores if r.changed]
            if not scores:
                skipped.append(f"{key}: no overhead metric declared for it (OVERHEAD_METRICS in its workload "
                               "module) and no gated score to compare")
            continue
        margin = margins_for(first.profile, max_overhead, max_p99_delta_ms)
        if first.profile not in PROFILES:
            warnings.append(f"{key}: profile {first.profile!r} is not known here: the default margins apply")
        if first.scenario == "Server" and first.config.get("server_target_qps") == 0:
            warnings.append(f"{key}: server_target_qps = 0, so each run calibrated its own target and samples_per_s "
                            "follows that target; set resnet50.server_target_qps to one value on both sides to "
                            "compare Server throughput")
        for metric, kind in declared.items():
            rows.append(compare_metric(key, metric, kind, margin(first.benchmark, first.scenario, metric, kind),
                                       baseline, candidate))
    verdict = overall([r.comparison for r in rows if r.comparison]).verdict
    if verdict == Verdict.PASS and any(r.comparison is None for r in rows):
        verdict = Verdict.INCONCLUSIVE
    if any(r.changed for r in accuracy):  # a runtime that changes what the model computes fails, however fast
        verdict = Verdict.FAIL
    elif accuracy and not rows:  # accuracy benchmarks only: their scores held
        verdict = Verdict.PASS
    return Comparison(tuple(r.run_id for r in baseline), tuple(r.run_id for r in candidate), tuple(rows),
                      tuple(skipped), tuple(warnings), verdict, tuple(accuracy))


# --- the table ----------------------------------------------------------------------------------------------------


def _number(x: float) -> str:
    return f"{x:,.1f}" if abs(x) >= 100 else f"{x:.4g}"


def _side(row: MetricRow, side: str) -> str:
    if row.comparison is None:
        return "–"
    summary = row.comparison.baseline if side == "baseline" else row.comparison.candidate
    unit = " ms" if row.kind == "latency" else ""
    return f"{_number(summary.median)}{unit} (n={summary.n})"


def _overhead(row: MetricRow) -> str:
    """(R − 1) in % for throughput, Δ in ms for latency; with the interval when there is one."""
    c = row.comparison
    if c is None:
        return "–"
    if row.kind == "throughput":
        def fmt(x: float) -> str:
            return f"{(x - 1) * 100:+.1f}%"
    else:
        def fmt(x: float) -> str:
            return f"{x:+.2f} ms"
    if not c.rank:
        return f"{fmt(c.estimate)} (point estimate, no interval)"
    return f"{fmt(c.estimate)} [{fmt(c.lower)}, {fmt(c.upper)}]"


def table_lines(comparison: Comparison) -> list[str]:
    """The table alone: metric | baseline | candidate | overhead | verdict."""
    return ["| metric | baseline | candidate | overhead | verdict |", "|---|---|---|---|---|",
            *(f"| {r.name} | {_side(r, 'baseline')} | {_side(r, 'candidate')} | {_overhead(r)} | {r.verdict} |"
              for r in comparison.rows)]


def render(comparison: Comparison) -> str:
    """The markdown view: the table (metric | baseline | candidate | overhead | verdict), each metric's numbers and
    reasons, what was skipped, warnings, and the overall verdict."""
    lines = [f"baseline: {', '.join(comparison.baseline)} ({len(comparison.baseline)} run(s))",
             f"candidate: {', '.join(comparison.candidate)} ({len(comparison.candidate)} run(s))", ""]
    if comparison.rows:
        lines += [*table_lines(comparison), ""]
    without = [r for r in comparison.rows if r.comparison and not r.comparison.rank]
    if without:
        sizes = sorted({f"{r.comparison.baseline.n} vs {r.comparison.candidate.n}" for r in without if r.comparison})
        lines += [f"No interval can be formed with {' / '.join(sizes)} run(s) per side: the overhead column is the "
                  f"point estimate only, and no verdict is possible. Repeat each side at least {MIN_REPEATS} times "
                  "(`bench compare --baseline RUN RUN RUN --candidate RUN RUN RUN`).", ""]
    if comparison.rows:
        lines.append("Per metric (R = candidate / baseline for throughput, Δ = candidate − baseline for latency; "
                     "the interval's achieved confidence in parentheses):")
        for r in comparison.rows:
            lines.append(f"- {r.comparison.describe() if r.comparison else f'{r.name}: INCONCLUSIVE; {r.problem}'}")
            if r.comparison and max(r.comparison.baseline.n, r.comparison.candidate.n) > 1:
                b, c = r.comparison.baseline, r.comparison.candidate
                lines.append(f"  - per side: baseline {_median(b)}, CV {_pct(b.cv_pct)}, MAD {_pct(b.mad_pct)}; "
                             f"candidate {_median(c)}, CV {_pct(c.cv_pct)}, MAD {_pct(c.mad_pct)}")
            lines += [f"  - invalid: {line}" for line in r.invalid]
    if comparison.accuracy:
        lines += ["", "Accuracy under the candidate (scores must not move beyond the baseline's own spread):"]
        lines += [f"- {r.describe()}" for r in comparison.accuracy]
    lines += [f"- skipped: {line}" for line in comparison.skipped]
    lines += [f"- warning: {line}" for line in comparison.warnings]
    lines += ["", f"**Overall: {comparison.verdict}**"]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


def _median(summary: SideSummary) -> str:
    """`n=5 median 31,706.5 [31,680.1, 31,712.0] (95%)`; the interval is unbounded below 6 runs."""
    if math.isfinite(summary.median_lower) and math.isfinite(summary.median_upper):
        interval = f"[{_number(summary.median_lower)}, {_number(summary.median_upper)}] " \
                   f"({summary.median_confidence:.0%})"
    else:
        interval = "(no 95% interval below 6 runs)"
    return f"n={summary.n} median {_number(summary.median)} {interval}"
