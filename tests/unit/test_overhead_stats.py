"""Overhead statistics (bench/metrics/overhead.py): the exact Mann–Whitney distribution and Moses ranks, the
verdict's error rates and the intervals' coverage in seeded simulations (2,000 experiments, vectorised over
experiments), small-n behaviour, invalid runs, and the margin parsers."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from bench.metrics import overhead
from bench.metrics.overhead import (
    Margin,
    Verdict,
    compare,
    compare_latency,
    compare_throughput,
    hodges_lehmann_bounds,
    interval_verdict,
    mann_whitney_counts,
    median_interval,
    min_repeats_per_side,
    moses_rank,
    overall,
    parse_max_overhead,
    parse_max_p99_delta,
    repeats_for_margin,
)

EXPERIMENTS = 2000
FIVE_PCT = Margin("throughput", max_overhead=0.05)
TWO_MS = Margin("latency", max_delta_ms=2.0)


def simulate_throughput(seed: int, n: int, ratio: float, cv: float) -> tuple[np.ndarray, np.ndarray]:
    """EXPERIMENTS × n runs per side, multiplicative log-normal noise (log sd = cv), candidate = ratio × baseline."""
    rng = np.random.default_rng(seed)
    baseline = 1000 * rng.lognormal(0.0, cv, (EXPERIMENTS, n))
    candidate = 1000 * ratio * rng.lognormal(0.0, cv, (EXPERIMENTS, n))
    return baseline, candidate


def throughput_verdicts(baseline: np.ndarray, candidate: np.ndarray, margin: Margin = FIVE_PCT) -> np.ndarray:
    _, lo, hi = hodges_lehmann_bounds(np.log(baseline), np.log(candidate))
    return interval_verdict(margin, np.exp(lo), np.exp(hi))


def rate(verdicts: np.ndarray, verdict: Verdict) -> float:
    return float(np.mean(verdicts == verdict.value))


# --- the exact distribution and the ranks -----------------------------------------------------------------------


@pytest.mark.parametrize("m,n", [(m, n) for m in range(1, 6) for n in range(1, 6)], ids=lambda v: str(v))
def test_u_distribution_matches_brute_force(m: int, n: int) -> None:
    counts = [0] * (m * n + 1)
    for baseline_slots in itertools.combinations(range(m + n), m):  # every ordering of m baseline, n candidate
        candidate_slots = set(range(m + n)) - set(baseline_slots)
        counts[sum(1 for b in baseline_slots for c in candidate_slots if c > b)] += 1
    assert mann_whitney_counts(m, n) == tuple(counts)
    assert sum(counts) == math.comb(m + n, m)


def test_moses_ranks_match_the_published_table() -> None:
    """overhead-anchors.md §2, "Exact k, n vs n": 90% → 1 2 5 8 16 28 43 73 139 at n = 3 4 5 6 8 10 12 15 20."""
    sizes = [3, 4, 5, 6, 8, 10, 12, 15, 20]
    assert [moses_rank(n, n, 0.90).k for n in sizes] == [1, 2, 5, 8, 16, 28, 43, 73, 139]
    assert [moses_rank(n, n, 0.95).k for n in sizes] == [None, 1, 3, 6, 14, 24, 38, 65, 128]
    assert moses_rank(2, 2).k is None and min_repeats_per_side(0.90) == 3 and min_repeats_per_side(0.95) == 4
    # the achieved level is 1 − 2·P(U ≤ k − 1), never below nominal: 3 vs 3 sits exactly on 90% (P(U = 0) = 1/20)
    assert moses_rank(3, 3).confidence == pytest.approx(0.90, abs=1e-12)
    counts = mann_whitney_counts(10, 10)  # k = 28: P(U ≤ 27) ≤ 5% < P(U ≤ 28)
    assert sum(counts[:28]) / 184756 <= 0.05 < sum(counts[:29]) / 184756
    assert moses_rank(10, 10).confidence == pytest.approx(1 - 2 * sum(counts[:28]) / 184756)
    assert all(moses_rank(m, n).confidence >= 0.90 - 1e-12 for m in range(3, 13) for n in range(3, 13))


def test_normal_approximation_agrees_with_exact_at_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    exact = moses_rank(100, 100)
    assert exact.exact
    monkeypatch.setattr(overhead, "EXACT_MAX_PAIRS", 0)
    approx = overhead.moses_rank.__wrapped__(100, 100)  # bypass the cache, which holds the exact answer
    assert not approx.exact
    assert abs(approx.k - exact.k) <= 1
    assert approx.confidence == pytest.approx(exact.confidence, abs=0.002)


def test_median_interval_order_statistics() -> None:
    values = list(range(1, 11))  # n = 10: P(Bin ≤ 1) = 11/1024 ≤ 2.5% < P(Bin ≤ 2) → [x_(2), x_(9)]
    assert median_interval(values) == (2, 9, pytest.approx(1 - 22 / 1024))
    assert median_interval([1, 2, 3, 4, 5]) == (-math.inf, math.inf, 0.0)  # 95% needs n ≥ 6
    assert median_interval([1, 2, 3, 4, 5, 6]) == (1, 6, pytest.approx(1 - 2 / 64))


# --- error rates and coverage (seeded simulations) --------------------------------------------------------------


def test_no_difference_at_3pct_noise_rarely_fails_at_n10() -> None:
    verdicts = throughput_verdicts(*simulate_throughput(1, 10, 1.0, 0.03))
    assert rate(verdicts, Verdict.FAIL) <= 0.05
    assert rate(verdicts, Verdict.PASS) >= 0.90  # half-width ≈ 2.3% at n = 10, so a null difference mostly passes


def test_ten_percent_slowdown_at_2pct_noise_fails_at_n10() -> None:
    verdicts = throughput_verdicts(*simulate_throughput(2, 10, 0.90, 0.02))
    assert rate(verdicts, Verdict.FAIL) >= 0.95
    assert rate(verdicts, Verdict.PASS) == 0.0


def test_overhead_exactly_at_the_margin_passes_at_most_5pct() -> None:
    """The one-sided error the 90% interval guarantees (TOST at α = 0.05), at any n that has an interval."""
    for seed, n in [(3, 3), (4, 10)]:
        verdicts = throughput_verdicts(*simulate_throughput(seed, n, 0.95, 0.03))
        assert rate(verdicts, Verdict.PASS) <= 0.05 + 0.015  # 0.015: three binomial standard errors at 2,000


@pytest.mark.parametrize("m,n", [(10, 10), (6, 9), (3, 3)], ids=["10v10", "6v9", "3v3"])
def test_interval_coverage_is_the_achieved_confidence(m: int, n: int) -> None:
    """For continuous data the Moses interval covers the true shift with probability exactly 1 − 2·P(U ≤ k − 1)
    (0.911 at 10 vs 10, 0.90 at 3 vs 3): the simulated coverage sits within 2 points of that level."""
    rng = np.random.default_rng(5)
    true_ratio = 0.97
    baseline = rng.lognormal(0.0, 0.03, (EXPERIMENTS, m))
    candidate = true_ratio * rng.lognormal(0.0, 0.03, (EXPERIMENTS, n))
    _, lo, hi = hodges_lehmann_bounds(np.log(baseline), np.log(candidate))
    covered = (np.exp(lo) <= true_ratio) & (true_ratio <= np.exp(hi))
    assert abs(covered.mean() - moses_rank(m, n).confidence) <= 0.02


def test_vectorised_path_agrees_with_compare() -> None:
    baseline, candidate = simulate_throughput(6, 5, 0.97, 0.03)
    verdicts = throughput_verdicts(baseline, candidate)
    for i in range(100):
        assert compare_throughput(baseline[i], candidate[i], FIVE_PCT).verdict == verdicts[i]


# --- small n ---------------------------------------------------------------------------------------------------


def test_two_per_side_never_decides_and_says_how_many_are_needed() -> None:
    result = compare_throughput([1000, 1001], [1000, 999], FIVE_PCT)
    assert result.verdict == Verdict.INCONCLUSIVE
    assert (result.lower, result.upper, result.rank) == (0.0, math.inf, None)
    assert "needs at least 3 repeats per side" in result.reasons[0]
    assert result.to_dict()["upper"] is None


def test_three_per_side_is_min_max_of_the_nine_ratios_and_rarely_resolves_5pct() -> None:
    """3 vs 3 does have an exact 90% interval — [min, max] of the 9 pairwise ratios (P(U = 0) = 1/20 = α/2) — so it
    can PASS; but at 3% noise its half-width is about the margin itself: an A/A comparison passes only about half
    the time (vs ≥ 90% at n = 10), FAIL never, and each too-wide interval says how many repeats would resolve it."""
    baseline, candidate = [1000.0, 1030.0, 985.0], [1010.0, 970.0, 1002.0]
    result = compare_throughput(baseline, candidate, FIVE_PCT)
    ratios = [c / b for c in candidate for b in baseline]
    assert (result.lower, result.upper) == (pytest.approx(min(ratios)), pytest.approx(max(ratios)))
    assert result.confidence == pytest.approx(0.90)

    sims_b, sims_c = simulate_throughput(7, 3, 1.0, 0.03)
    verdicts = throughput_verdicts(sims_b, sims_c)
    assert 0.3 <= rate(verdicts, Verdict.PASS) <= 0.7
    assert rate(verdicts, Verdict.FAIL) <= 0.01
    for i in range(50):
        one = compare_throughput(sims_b[i], sims_c[i], FIVE_PCT)
        if one.half_width > 0.05:
            assert any("cannot resolve a 5% threshold with 3 repeats per side" in r for r in one.reasons)
            assert one.repeats_needed is not None and one.repeats_needed >= 3


def test_repeats_estimate_gives_a_fair_chance_of_pass() -> None:
    """The planning estimate aims at an 80% chance of PASS when there is no difference."""
    n = repeats_for_margin(0.03, -math.log(0.95))
    assert 4 <= n <= 8
    assert 0.65 <= rate(throughput_verdicts(*simulate_throughput(8, n, 1.0, 0.03)), Verdict.PASS) <= 0.97
    assert repeats_for_margin(0.0, 0.05) == 3


# --- latency ---------------------------------------------------------------------------------------------------


def test_latency_shift_of_3ms_fails_a_2ms_margin_and_no_shift_passes() -> None:
    rng = np.random.default_rng(9)
    baseline = 20.0 + rng.normal(0.0, 0.5, (EXPERIMENTS, 10))
    shifted = 23.0 + rng.normal(0.0, 0.5, (EXPERIMENTS, 10))
    same = 20.0 + rng.normal(0.0, 0.5, (EXPERIMENTS, 10))
    _, lo, hi = hodges_lehmann_bounds(baseline, shifted)
    assert rate(interval_verdict(TWO_MS, lo, hi), Verdict.FAIL) >= 0.95
    _, lo, hi = hodges_lehmann_bounds(baseline, same)
    assert rate(interval_verdict(TWO_MS, lo, hi), Verdict.PASS) >= 0.95


def test_latency_estimate_is_the_median_of_pairwise_differences() -> None:
    result = compare_latency([10.0, 11.0, 12.0, 30.0], [10.5, 11.5, 12.5, 13.5], TWO_MS)
    diffs = sorted(c - b for c in [10.5, 11.5, 12.5, 13.5] for b in [10.0, 11.0, 12.0, 30.0])
    assert result.estimate == pytest.approx((diffs[7] + diffs[8]) / 2)
    assert (result.lower, result.upper) == (diffs[1], diffs[14])  # k = 2 at 4 vs 4
    assert (result.slower_pairs, result.pairs) == (sum(d > 0 for d in diffs), 16)


# --- verdicts, results ------------------------------------------------------------------------------------------


def test_invalid_runs_make_any_verdict_inconclusive() -> None:
    baseline, candidate = [1000.0 + i for i in range(10)], [1000.5 + i for i in range(10)]
    assert compare(baseline, candidate, FIVE_PCT).verdict == Verdict.PASS
    result = compare(baseline, candidate, FIVE_PCT, invalid_runs=True)
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "1 run(s) invalid or errored" in result.reasons[0]
    assert result.estimate == pytest.approx(1.0, abs=0.002)  # the numbers are still there to read


def test_overall_fail_beats_inconclusive_and_pass_needs_all() -> None:
    passed = compare([1000.0 + i for i in range(10)], [1000.5 + i for i in range(10)], FIVE_PCT)
    failed = compare([20.0 + i / 10 for i in range(10)], [25.0 + i / 10 for i in range(10)], TWO_MS)
    unsure = compare([1000.0, 1001.0], [1000.0, 1001.0], FIVE_PCT)
    assert (passed.verdict, failed.verdict, unsure.verdict) == (Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE)
    assert overall([passed, failed, unsure]).verdict == Verdict.FAIL
    assert overall([passed, unsure]).verdict == Verdict.INCONCLUSIVE
    assert overall([passed, passed]).verdict == Verdict.PASS
    assert overall([]).verdict == Verdict.INCONCLUSIVE
    payload = json.loads(json.dumps(overall([passed, failed, unsure]).to_dict(), allow_nan=False))
    assert payload["verdict"] == "FAIL" and payload["metrics"][1]["margin"]["max_delta_ms"] == 2.0
    assert payload["metrics"][0]["baseline"]["n"] == 10


def test_side_summary_reports_noise() -> None:
    result = compare([100.0, 102.0, 98.0, 101.0, 99.0, 100.0], [95.0] * 6, FIVE_PCT)
    side = result.baseline
    assert (side.n, side.median, side.mad) == (6, 100.0, 1.0)
    assert (side.median_lower, side.median_upper) == (98.0, 102.0)
    assert side.cv_pct == pytest.approx(np.std([100, 102, 98, 101, 99, 100], ddof=1) / 100 * 100)
    assert result.slower_pairs == 36 and result.candidate.cv_pct == 0.0


# --- margins ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [("5%", 0.05), ("0.05", 0.05), (" 2.5 % ", 0.025), ("0", 0.0), (".1", 0.1)])
def test_parse_max_overhead_accepts(text: str, value: float) -> None:
    assert parse_max_overhead(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["-5%", "5", "100%", "five", "5%%", "", "nan", "0.05ms"])
def test_parse_max_overhead_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"5% or a fraction such as 0\.05"):
        parse_max_overhead(text)


@pytest.mark.parametrize("text,value", [("2ms", 2.0), ("2", 2.0), ("0.5 ms", 0.5), ("1.5MS", 1.5)])
def test_parse_max_p99_delta_accepts(text: str, value: float) -> None:
    assert parse_max_p99_delta(text) == value


@pytest.mark.parametrize("text", ["-2ms", "2s", "2 %", "two", "", "inf"])
def test_parse_max_p99_delta_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="milliseconds such as 2ms or 2"):
        parse_max_p99_delta(text)


def test_margin_validates_its_fields() -> None:
    assert Margin("throughput", max_overhead=0.05).threshold == 0.95
    assert Margin("latency", max_delta_ms=2.0).threshold == 2.0
    for bad in [dict(kind="throughput", max_delta_ms=2.0), dict(kind="latency", max_overhead=0.05),
                dict(kind="throughput", max_overhead=-0.01), dict(kind="bandwidth", max_overhead=0.05)]:
        with pytest.raises(ValueError):
            Margin(**bad)
    with pytest.raises(ValueError, match="latency margin"):
        compare_latency([1.0], [1.0], FIVE_PCT)


def test_describe_names_estimate_interval_margin_and_pairs() -> None:
    line = compare_throughput([1000.0, 1030.0, 985.0], [1010.0, 970.0, 1002.0], FIVE_PCT).describe()
    assert line.startswith("throughput: R = 0.985 [0.942, 1.025] (90% interval), margin 5% → INCONCLUSIVE; "
                           "candidate slower in 5/9 pairs; the 90% interval")
    assert "(no interval)" in compare_latency([20.0, 21.0], [22.0, 23.0], TWO_MS).describe()
