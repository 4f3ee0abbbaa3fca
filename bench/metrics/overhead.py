"""Overhead verdicts: is a candidate (a runtime, a virtualization layer, a driver) slower than the baseline (bare
metal) by more than a margin? Pure statistics over per-run figures, one figure per fresh run and side (throughput
in tokens or samples per second; latency as the run's p99 or LoadGen early-stopping latency in ms).

Method (golang.org/x/perf benchstat and R's `wilcox.test(conf.int=TRUE)` use the same pieces; sources and the
simulations behind the choices: shared/reference/overhead-anchors.md §2 and "Implications"):

- throughput, higher is better: the ratio R = candidate / baseline, estimated as exp of the Hodges–Lehmann shift of
  the logs (the median of all m·n pairwise ratios c_i / b_j);
- latency, lower is better: the Hodges–Lehmann shift Δ = median of all pairwise differences c_i − b_j, in ms (not
  the difference of the medians);
- both with the distribution-free Moses interval: the order statistics D_(k) and D_(mn+1−k) of the sorted pairwise
  differences, k − 1 the largest u with P(U ≤ u) ≤ α/2 under the exact Mann–Whitney null distribution of U. A 90%
  two-sided interval is two one-sided tests at α = 0.05 (TOST, Lakens 2017): overhead below the margin is a
  one-sided claim, so its error rate is 5%.
- verdict: PASS when the whole interval is inside the margin, FAIL when it is wholly outside, INCONCLUSIVE otherwise,
  and always INCONCLUSIVE when a run is invalid or there are too few repeats for an exact interval (2 vs 2 or fewer:
  3 vs 3 gives [min, max] of the 9 pairwise ratios at exactly 90%).

Nothing here runs a benchmark: callers hand in the per-run figures and read back frozen results whose `to_dict()` is
JSON-ready (unbounded interval ends become null).
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

NOMINAL_CONFIDENCE = 0.90  # two one-sided tests at α = 0.05
MEDIAN_CONFIDENCE = 0.95  # the per-side median interval, as benchstat prints it
EXACT_MAX_PAIRS = 10_000  # exact U distribution up to m·n = 10,000 (100 vs 100, ~0.1 s once); normal beyond
HL_EFFICIENCY = 1.05  # sample-size inflation of Hodges–Lehmann against the t-test under normal noise (≈ π/3)
PLANNING_POWER = 0.80  # the repeats estimate: 80% chance of PASS when the true difference is zero
# P(U ≤ u) ≤ α/2 is compared with this slack: 1 − 0.90 is 0.0999…98 in binary, and 3 vs 3 sits exactly on the
# boundary (P(U = 0) = 1/20 = α/2), which a bare float comparison would wrongly reject
_TIE = 1e-12

MetricKind = Literal["throughput", "latency"]


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


# --- margins ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Margin:
    """How much worse the candidate may be: `Margin("throughput", max_overhead=0.05)` (R must stay above 0.95) or
    `Margin("latency", max_delta_ms=2.0)` (Δ must stay below +2 ms)."""

    kind: MetricKind
    max_overhead: float | None = None
    max_delta_ms: float | None = None

    def __post_init__(self) -> None:
        if self.kind == "throughput":
            if self.max_overhead is None or self.max_delta_ms is not None:
                raise ValueError("a throughput margin takes max_overhead (a fraction such as 0.05), not max_delta_ms")
            if not 0 <= self.max_overhead < 1:
                raise ValueError(f"max_overhead must be within [0, 1), got {self.max_overhead}")
        elif self.kind == "latency":
            if self.max_delta_ms is None or self.max_overhead is not None:
                raise ValueError("a latency margin takes max_delta_ms (milliseconds such as 2.0), not max_overhead")
            if not 0 <= self.max_delta_ms < math.inf:
                raise ValueError(f"max_delta_ms must be a finite number ≥ 0, got {self.max_delta_ms}")
        else:
            raise ValueError(f"margin kind must be 'throughput' or 'latency', got {self.kind!r}")

    @property
    def threshold(self) -> float:
        """The bound the interval is held against: R > 1 − max_overhead, or Δ < max_delta_ms."""
        return 1 - self.max_overhead if self.max_overhead is not None else float(self.max_delta_ms or 0.0)

    @property
    def size(self) -> float:
        """The margin in the estimate's units (a fraction of the ratio, or ms), to compare half-widths with."""
        return self.max_overhead if self.max_overhead is not None else float(self.max_delta_ms or 0.0)

    def describe(self) -> str:
        if self.max_overhead is not None:
            return f"{self.max_overhead * 100:g}%"
        return f"{self.max_delta_ms:g} ms"


_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_OVERHEAD_RE = re.compile(rf"^\s*(-?)\s*({_NUMBER})\s*(%?)\s*$")
_DELTA_RE = re.compile(rf"^\s*(-?)\s*({_NUMBER})\s*(ms)?\s*$", re.IGNORECASE)


def parse_max_overhead(text: str) -> float:
    """`--max-overhead`: `5%` or `0.05` → 0.05. A bare number is a fraction, so it must be below 1."""
    forms = "use a percentage such as 5% or a fraction such as 0.05"
    match = _OVERHEAD_RE.match(text)
    if not match:
        raise ValueError(f"--max-overhead {text!r} is not a number: {forms}")
    sign, number, percent = match.groups()
    if sign:
        raise ValueError(f"--max-overhead {text!r} is negative: {forms}")
    value = float(number) / 100 if percent else float(number)
    if value >= 1:
        raise ValueError(f"--max-overhead {text!r} is 100% or more: {forms}")
    return value


def parse_max_p99_delta(text: str) -> float:
    """`--max-p99-delta`: `2ms` or `2` → 2.0 (milliseconds)."""
    forms = "use milliseconds such as 2ms or 2"
    match = _DELTA_RE.match(text)
    if not match:
        raise ValueError(f"--max-p99-delta {text!r} is not a number of milliseconds: {forms}")
    sign, number, _unit = match.groups()
    if sign:
        raise ValueError(f"--max-p99-delta {text!r} is negative: {forms}")
    return float(number)


# --- the Mann–Whitney null distribution and the Moses ranks ------------------------------------------------------


@cache
def parse_margins(max_overhead: str | None, max_p99_delta: str | None) -> dict[str, float | None]:
    """`--max-overhead` / `--max-p99-delta` as given on any command line (None: the profile's), keyed as
    `compare_runs` and the overhead run take them; a bad value raises ValueError naming the option."""
    return {"max_overhead": parse_max_overhead(max_overhead) if max_overhead is not None else None,
            "max_p99_delta_ms": parse_max_p99_delta(max_p99_delta) if max_p99_delta is not None else None}


def mann_whitney_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) equally likely orderings give U = 0, 1, …, m·n (no ties). These are the
    coefficients of the Gaussian binomial [m+n choose m]_q = Π_{i=1..m} (1 − q^(n+i)) / (1 − q^i), built factor by
    factor in exact integers: multiplying by (1 − q^a) is a shifted subtraction, dividing by (1 − q^i) a running sum
    with stride i (the division is exact at every step, since each partial product is itself a Gaussian binomial)."""
    if m < 0 or n < 0:
        raise ValueError(f"sample sizes must be ≥ 0, got {m}, {n}")
    if m > n:  # the distribution is symmetric in m and n; the loop below runs over the smaller one
        return mann_whitney_counts(n, m)
    size = m * n + 1
    poly = np.zeros(size, dtype=object)
    poly[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        if shift < size:
            poly[shift:] = poly[shift:] - poly[: size - shift]
        for start in range(i):  # divide by (1 − q^i): running sums along each residue class mod i
            poly[start::i] = np.cumsum(poly[start::i])
    return tuple(int(c) for c in poly)


@dataclass(frozen=True)
class MosesRank:
    """The interval's ranks for m vs n: [D_(k), D_(m·n+1−k)] of the sorted pairwise differences, `k = None` when no
    interval reaches the confidence asked for (then it is unbounded). `confidence` is what the ranks achieve
    (≥ the nominal level when exact); `exact` says whether the exact U distribution chose them."""

    m: int
    n: int
    k: int | None
    confidence: float
    exact: bool


@cache
def moses_rank(m: int, n: int, confidence: float = NOMINAL_CONFIDENCE) -> MosesRank:
    """k − 1 = the largest u with P(U ≤ u) ≤ α/2, α = 1 − confidence; exact up to EXACT_MAX_PAIRS pairs, else the
    normal approximation of U (mean mn/2, variance mn(m+n+1)/12) with a continuity correction."""
    if m < 1 or n < 1:
        raise ValueError(f"each side needs at least one value, got {m} vs {n}")
    half_alpha = (1 - confidence) / 2
    pairs = m * n
    if pairs <= EXACT_MAX_PAIRS:
        total = math.comb(m + n, m)
        cumulative, u = 0, -1
        for count in mann_whitney_counts(m, n):
            if (cumulative + count) / total > half_alpha + _TIE:
                break
            cumulative += count
            u += 1
        if u < 0:
            return MosesRank(m, n, None, 0.0, True)
        return MosesRank(m, n, u + 1, 1 - 2 * cumulative / total, True)
    normal = statistics.NormalDist(pairs / 2, math.sqrt(pairs * (m + n + 1) / 12))
    u = math.floor(normal.inv_cdf(half_alpha) - 0.5)
    if u < 0:
        return MosesRank(m, n, None, 0.0, False)
    return MosesRank(m, n, u + 1, 1 - 2 * normal.cdf(u + 0.5), False)


def min_repeats_per_side(confidence: float = NOMINAL_CONFIDENCE) -> int:
    """The smallest n for which n vs n has an exact interval at `confidence`: 3 at 90% (P(U = 0) = 1/20), 4 at 95%."""
    n = 1
    while moses_rank(n, n, confidence).k is None:
        n += 1
    return n


# --- estimators ---------------------------------------------------------------------------------------------------


def hodges_lehmann_bounds(baseline: np.ndarray, candidate: np.ndarray,
                          confidence: float = NOMINAL_CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shift estimate, lower and upper Moses bound of candidate − baseline along the last axis, vectorised over the
    leading ones (shapes (..., m) and (..., n)); unbounded ends are ∓inf."""
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    m, n = b.shape[-1], c.shape[-1]
    diffs = np.sort((c[..., :, None] - b[..., None, :]).reshape(*np.broadcast_shapes(b.shape[:-1], c.shape[:-1]),
                                                                    m * n), axis=-1)
    estimate = np.median(diffs, axis=-1)
    rank = moses_rank(m, n, confidence)
    if rank.k is None:
        return estimate, np.full_like(estimate, -math.inf), np.full_like(estimate, math.inf)
    return estimate, diffs[..., rank.k - 1], diffs[..., m * n - rank.k]


def median_interval(values: Sequence[float], confidence: float = MEDIAN_CONFIDENCE) -> tuple[float, float, float]:
    """Distribution-free interval of the median: [x_(j), x_(n+1−j)] with j − 1 the largest i with
    P(Binomial(n, ½) ≤ i) ≤ α/2; returns (lower, upper, achieved confidence), (−inf, inf, 0) when n is too small
    (n < 6 at 95%, as benchstat says)."""
    ordered = sorted(values)
    n = len(ordered)
    half_alpha = (1 - confidence) / 2
    cumulative, j = 0, 0
    for i in range(n + 1):
        if (cumulative + math.comb(n, i)) / 2**n > half_alpha + _TIE:
            break
        cumulative += math.comb(n, i)
        j = i + 1
    if j == 0:
        return -math.inf, math.inf, 0.0
    return ordered[j - 1], ordered[n - j], 1 - 2 * cumulative / 2**n


# --- results ------------------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class SideSummary:
    """One side's runs: n, the median with its distribution-free 95% interval (±inf below 6 runs), and the noise as
    the coefficient of variation and the median absolute deviation (raw and relative to the median)."""

    values: tuple[float, ...]
    median: float
    median_lower: float
    median_upper: float
    median_confidence: float
    cv_pct: float | None
    mad: float
    mad_pct: float | None

    @property
    def n(self) -> int:
        return len(self.values)

    @classmethod
    def of(cls, values: Sequence[float]) -> SideSummary:
        vals = tuple(float(v) for v in values)
        median = statistics.median(vals)
        lower, upper, achieved = median_interval(vals)
        mean = statistics.fmean(vals)
        cv = statistics.stdev(vals) / abs(mean) * 100 if len(vals) > 1 and mean else None
        mad = statistics.median(abs(v - median) for v in vals)
        return cls(vals, median, lower, upper, achieved, cv, mad, mad / abs(median) * 100 if median else None)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"n": self.n, **dataclasses.asdict(self)})


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's comparison: the estimate (R, or Δ in ms) with its interval, the margin and the verdict, the
    sides it came from, and the sentences that explain an INCONCLUSIVE. `half_width` is the resolvable margin;
    `repeats_needed` a rough per-side n for an 80% chance of PASS when the true difference is zero, at the noise
    seen (None when the noise cannot be estimated); `slower_pairs` of `pairs` are the (i, j) where the candidate's
    run was worse than the baseline's."""

    name: str
    margin: Margin
    verdict: Verdict
    estimate: float
    lower: float
    upper: float
    confidence: float
    exact: bool
    rank: int | None
    half_width: float
    slower_pairs: int
    pairs: int
    baseline: SideSummary
    candidate: SideSummary
    invalid_runs: int
    repeats_needed: int | None
    method: str
    reasons: tuple[str, ...]

    def describe(self) -> str:
        """`throughput: R = 0.991 [0.942, 1.025] (90% interval), margin 5% → INCONCLUSIVE; candidate slower in 6/9
        pairs`, followed by the reasons."""
        symbol = "R" if self.margin.kind == "throughput" else "Δ"
        value = (lambda x: f"{x:.3f}") if self.margin.kind == "throughput" else (lambda x: f"{x:+.2f} ms")
        interval = (f"[{value(self.lower)}, {value(self.upper)}] ({self.confidence:.0%} interval)" if self.rank
                    else "(no interval)")
        line = (f"{self.name}: {symbol} = {value(self.estimate)} {interval}, margin {self.margin.describe()} → "
                f"{self.verdict}; candidate slower in {self.slower_pairs}/{self.pairs} pairs")
        return "; ".join([line, *self.reasons])

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields |= {"margin": dataclasses.asdict(self.margin), "verdict": str(self.verdict),
                   "baseline": self.baseline.to_dict(), "candidate": self.candidate.to_dict()}
        return _jsonable(fields)


@dataclass(frozen=True)
class OverheadVerdict:
    """All metrics of one comparison: FAIL if any metric fails, PASS only if every metric passes, else INCONCLUSIVE
    (also when there are no metrics: nothing was decided)."""

    verdict: Verdict
    metrics: tuple[MetricVerdict, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": str(self.verdict), "metrics": [m.to_dict() for m in self.metrics]}


def overall(metrics: Sequence[MetricVerdict]) -> OverheadVerdict:
    verdicts = [m.verdict for m in metrics]
    if Verdict.FAIL in verdicts:
        verdict = Verdict.FAIL
    elif verdicts and all(v == Verdict.PASS for v in verdicts):
        verdict = Verdict.PASS
    else:
        verdict = Verdict.INCONCLUSIVE
    return OverheadVerdict(verdict, tuple(metrics))


# --- comparisons --------------------------------------------------------------------------------------------------


def compare(baseline: Sequence[float], candidate: Sequence[float], margin: Margin, *, name: str | None = None,
            invalid_runs: int = 0, confidence: float = NOMINAL_CONFIDENCE) -> MetricVerdict:
    """Compare per-run figures of one metric under `margin` (its kind says which way is better). `invalid_runs`
    counts runs on either side that were invalid or errored (a bool works): any makes the verdict INCONCLUSIVE,
    though the numbers are still computed from the values given."""
    if margin.kind == "throughput":
        return compare_throughput(baseline, candidate, margin, name=name or "throughput", invalid_runs=invalid_runs,
                                  confidence=confidence)
    return compare_latency(baseline, candidate, margin, name=name or "p99_latency_ms", invalid_runs=invalid_runs,
                           confidence=confidence)


def compare_throughput(baseline: Sequence[float], candidate: Sequence[float], margin: Margin, *,
                       name: str = "throughput", invalid_runs: int = 0,
                       confidence: float = NOMINAL_CONFIDENCE) -> MetricVerdict:
    """R = candidate / baseline (higher is better): exp of the Hodges–Lehmann shift of the logs with its Moses
    interval; PASS when R's lower bound > 1 − max_overhead, FAIL when R's upper bound < 1 − max_overhead."""
    if margin.kind != "throughput":
        raise ValueError(f"compare_throughput needs a throughput margin, got {margin.kind!r}")
    b, c = _checked(baseline, "baseline"), _checked(candidate, "candidate")
    if (b <= 0).any() or (c <= 0).any():
        raise ValueError("throughput values must be > 0 (the ratio is estimated on their logarithms)")
    log_b, log_c = np.log(b), np.log(c)
    est, lo, hi = (float(x) for x in hodges_lehmann_bounds(log_b, log_c, confidence))
    ratio, lower, upper = math.exp(est), math.exp(lo), math.exp(hi)
    rank = moses_rank(len(b), len(c), confidence)
    return _decide(
        name=name, margin=margin, estimate=ratio, lower=lower, upper=upper, rank=rank, b=b, c=c,
        slower_pairs=int((c[:, None] < b[None, :]).sum()), invalid_runs=int(invalid_runs),
        sigma=_pooled_sd(log_b, log_c), planning_margin=-math.log(margin.threshold) if margin.size else 0.0,
        method=_method("ratio of throughputs: Hodges–Lehmann on logs (median of pairwise ratios)", rank),
    )


def compare_latency(baseline: Sequence[float], candidate: Sequence[float], margin: Margin, *,
                    name: str = "p99_latency_ms", invalid_runs: int = 0,
                    confidence: float = NOMINAL_CONFIDENCE) -> MetricVerdict:
    """Δ = candidate − baseline in ms (lower is better): the Hodges–Lehmann shift with its Moses interval; PASS when
    Δ's upper bound < max_delta_ms, FAIL when Δ's lower bound > max_delta_ms."""
    if margin.kind != "latency":
        raise ValueError(f"compare_latency needs a latency margin, got {margin.kind!r}")
    b, c = _checked(baseline, "baseline"), _checked(candidate, "candidate")
    est, lo, hi = (float(x) for x in hodges_lehmann_bounds(b, c, confidence))
    rank = moses_rank(len(b), len(c), confidence)
    return _decide(
        name=name, margin=margin, estimate=est, lower=lo, upper=hi, rank=rank, b=b, c=c,
        slower_pairs=int((c[:, None] > b[None, :]).sum()), invalid_runs=int(invalid_runs),
        sigma=_pooled_sd(b, c), planning_margin=margin.size,
        method=_method("latency shift in ms: Hodges–Lehmann (median of pairwise differences)", rank),
    )


def interval_verdict(margin: Margin, lower: npt.ArrayLike, upper: npt.ArrayLike) -> np.ndarray:
    """PASS when the whole interval is inside the margin, FAIL when it is wholly outside, else INCONCLUSIVE —
    elementwise, so a simulation of thousands of experiments decides in one call (the strings are Verdict values)."""
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if margin.kind == "throughput":
        passed, failed = lo > margin.threshold, hi < margin.threshold
    else:
        passed, failed = hi < margin.threshold, lo > margin.threshold
    return np.where(passed, Verdict.PASS.value, np.where(failed, Verdict.FAIL.value, Verdict.INCONCLUSIVE.value))


def repeats_for_margin(sigma: float, margin: float, confidence: float = NOMINAL_CONFIDENCE,
                       power: float = PLANNING_POWER) -> int:
    """Rough repeats per side for a chance `power` of PASS when the true difference is zero, noise sd `sigma` in the
    margin's units: n ≈ HL_EFFICIENCY · 2 (z_{1−α/2} + z_power)² σ² / margin² (the two-sample planning formula, α/2
    per side of the TOST), never below the smallest n with an exact interval."""
    floor = min_repeats_per_side(confidence)
    if sigma <= 0:
        return floor
    if margin <= 0:
        raise ValueError("a zero margin cannot be resolved by any number of repeats")
    z = statistics.NormalDist()
    n = HL_EFFICIENCY * 2 * (z.inv_cdf(1 - (1 - confidence) / 2) + z.inv_cdf(power)) ** 2 * sigma**2 / margin**2
    return max(floor, math.ceil(n))


def _checked(values: Sequence[float], side: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{side} needs a flat, non-empty list of per-run values")
    if not np.isfinite(array).all():
        raise ValueError(f"{side} values must be finite numbers")
    return array


def _pooled_sd(b: np.ndarray, c: np.ndarray) -> float | None:
    df = len(b) + len(c) - 2
    if len(b) < 2 and len(c) < 2:
        return None
    ss = float(((b - b.mean()) ** 2).sum() + ((c - c.mean()) ** 2).sum())
    return math.sqrt(ss / df)


def _method(estimator: str, rank: MosesRank) -> str:
    pairs = rank.m * rank.n
    if rank.k is None:
        return f"{estimator}; no interval at {rank.m} vs {rank.n} (the smallest possible P(U ≤ 0) exceeds α/2)"
    kind = "exact Mann–Whitney U" if rank.exact else "normal approximation of Mann–Whitney U"
    return (f"{estimator}; Moses interval from ranks {rank.k} and {pairs + 1 - rank.k} of {pairs} pairs "
            f"({kind}, confidence {rank.confidence:.1%})")


def _decide(*, name: str, margin: Margin, estimate: float, lower: float, upper: float, rank: MosesRank,
            b: np.ndarray, c: np.ndarray, slower_pairs: int, invalid_runs: int, sigma: float | None,
            planning_margin: float, method: str) -> MetricVerdict:
    m, n = len(b), len(c)
    half_width = (upper - lower) / 2
    needed = repeats_for_margin(sigma, planning_margin) if sigma is not None and margin.size > 0 else None
    floor = min_repeats_per_side()
    reasons: list[str] = []
    fmt = _fmt(margin)
    if invalid_runs:
        reasons.append(f"{invalid_runs} run(s) invalid or errored: no verdict from a comparison with a broken run")
    if rank.k is None:
        reasons.append(f"too few repeats for a {NOMINAL_CONFIDENCE:.0%} interval with {m} vs {n}: needs at least "
                       f"{floor} repeats per side"
                       + (f", about {needed} at the noise seen" if needed and needed > floor else ""))
        verdict = Verdict.INCONCLUSIVE
    else:
        if half_width > margin.size:
            reasons.append(f"this setup cannot resolve a {margin.describe()} threshold with {_per_side(m, n)}: the "
                           f"{rank.confidence:.0%} interval's half-width is {fmt(half_width)}"
                           + (f"; about {needed} repeats per side would be needed at the noise seen" if needed
                              else ""))
        verdict = Verdict(str(interval_verdict(margin, lower, upper)))
        if verdict == Verdict.INCONCLUSIVE:
            reasons.append(f"the {rank.confidence:.0%} interval [{_value(margin, lower)}, {_value(margin, upper)}] "
                           f"straddles the margin {_value(margin, margin.threshold)}")
        if invalid_runs:
            verdict = Verdict.INCONCLUSIVE
    return MetricVerdict(
        name=name, margin=margin, verdict=verdict, estimate=estimate, lower=lower, upper=upper,
        confidence=rank.confidence, exact=rank.exact, rank=rank.k, half_width=half_width,
        slower_pairs=slower_pairs, pairs=m * n, baseline=SideSummary.of(b.tolist()),
        candidate=SideSummary.of(c.tolist()), invalid_runs=invalid_runs, repeats_needed=needed, method=method,
        reasons=tuple(reasons),
    )


def _per_side(m: int, n: int) -> str:
    return f"{m} repeats per side" if m == n else f"{m} vs {n} repeats"


def _fmt(margin: Margin) -> Callable[[float], str]:
    if margin.kind == "throughput":
        return lambda x: f"{x * 100:.1f}%"
    return lambda x: f"{x:.2f} ms"


def _value(margin: Margin, x: float) -> str:
    if margin.kind == "throughput":
        return f"{x:.3f}"
    return f"{x:+.2f} ms" if math.isfinite(x) else f"{x}"
