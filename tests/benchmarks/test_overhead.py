"""Overhead verdicts through the suite: one test per benchmark × scenario × compared metric, e.g.
`test_overhead[resnet50-Offline-samples_per_s]`, selected with `pytest -m overhead --candidate SPEC` (or with
`-m smoke` / `--full` plus `--candidate`).

The first test runs the whole comparison (bench/overhead.py: every selected group, baseline and candidate in ABBA
order, `--repeats` each); each test then asserts its metric's verdict: PASS passes, FAIL fails, INCONCLUSIVE is
skipped with its numbers (a failure with `--strict-overhead`). Every number goes into the test's JUnit properties.
"""

from __future__ import annotations

import pytest

from bench.metrics.overhead import Verdict
from bench.overhead import OverheadRun
from bench.workloads import BENCHMARKS, overhead_metrics

CASES = [
    pytest.param(bench, scenario, metric, id=f"{bench}-{scenario}-{metric}")
    for bench in BENCHMARKS
    for scenario, metrics in overhead_metrics(bench).items()
    for metric in metrics
]


@pytest.mark.overhead
@pytest.mark.smoke
@pytest.mark.full
@pytest.mark.parametrize(("bench", "scenario", "metric"), CASES)
def test_overhead(bench: str, scenario: str, metric: str, overhead_run: OverheadRun, record_property,
                  pytestconfig: pytest.Config) -> None:
    verdicts = overhead_run.run()
    record_property("baseline", overhead_run.comparison.baseline.describe())
    record_property("candidate", overhead_run.comparison.candidate.describe())
    record_property("repeats_per_side", overhead_run.repeats)
    if overhead_run.refused:
        pytest.fail(f"{bench}/{scenario} {metric}: {overhead_run.refused}", pytrace=False)
    assert verdicts is not None
    row = next((r for r in verdicts.rows if (r.benchmark, r.scenario, r.metric) == (bench, scenario, metric)), None)
    if row is None:
        pytest.fail(f"{bench}/{scenario} {metric}: the comparison has no such row "
                    f"({'; '.join(verdicts.skipped) or 'no reason recorded'})", pytrace=False)
    record_property("verdict", str(row.verdict))
    record_property("kind", row.kind)
    record_property("margin", row.margin.describe())
    for line in row.invalid:
        record_property("invalid_run", line)
    c = row.comparison
    if c is not None:
        for name in ("estimate", "lower", "upper", "confidence", "half_width", "slower_pairs", "pairs"):
            record_property(name, round(getattr(c, name), 6) if isinstance(getattr(c, name), float)
                            else getattr(c, name))
        for side, summary in (("baseline", c.baseline), ("candidate", c.candidate)):
            record_property(f"{side}_n", summary.n)
            record_property(f"{side}_median", round(summary.median, 6))
            record_property(f"{side}_values", ",".join(f"{v:.6g}" for v in summary.values))
            if summary.cv_pct is not None:
                record_property(f"{side}_cv_pct", round(summary.cv_pct, 3))
    message = c.describe() if c else f"{row.name}: {row.problem}"
    if row.verdict == Verdict.FAIL:
        pytest.fail(message, pytrace=False)
    if row.verdict == Verdict.INCONCLUSIVE:
        if pytestconfig.getoption("strict_overhead"):
            pytest.fail(f"{message} (--strict-overhead: INCONCLUSIVE fails)", pytrace=False)
        pytest.skip(message)
