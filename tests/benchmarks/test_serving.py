"""serving through the selected executor: a vLLM OpenAI server started for the run (or --endpoint URL), driven by our
own load client — smoke: one short Poisson point and one concurrency point; --full adds the sweep to saturation.

Every load point's figures are JUnit properties (`r4_ttft_p99_ms`, `c4_output_tokens_per_s`, ...) beside the
headline point's unprefixed ones and `max_rate_within_slo`."""

from __future__ import annotations

import pytest

from bench.suite import SuiteRun
from tests.benchmarks.report import check_result


@pytest.mark.smoke
@pytest.mark.full
@pytest.mark.suite_benchmark("serving")
@pytest.mark.parametrize("scenario", ["poisson", "concurrency"])
def test_serving(scenario: str, suite: SuiteRun, record_property) -> None:
    check_result(suite.result("serving", scenario), record_property, suite.run_notes)


@pytest.mark.full
@pytest.mark.suite_benchmark("serving")
@pytest.mark.parametrize("scenario", ["sweep"])
def test_serving_sweep(scenario: str, suite: SuiteRun, record_property) -> None:
    check_result(suite.result("serving", scenario), record_property, suite.run_notes)
