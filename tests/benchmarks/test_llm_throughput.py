"""llm_throughput through the selected executor: offline batch throughput and single-request latency."""

from __future__ import annotations

import pytest

from bench.suite import SuiteRun
from tests.benchmarks.report import check_result


@pytest.mark.smoke
@pytest.mark.full
@pytest.mark.suite_benchmark("llm_throughput")
@pytest.mark.parametrize("scenario", ["offline", "single"])
def test_llm_throughput(scenario: str, suite: SuiteRun, record_property) -> None:
    check_result(suite.result("llm_throughput", scenario), record_property, suite.run_notes)
