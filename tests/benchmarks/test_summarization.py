"""summarization through the selected executor: MLPerf llama3.1-8b CNN/DailyMail ROUGE.

The suite runs the `offline` scenario (the suite's gate: ROUGE-L ≥ 0.15 on llama3.1-8b). MLPerf's closed-division
gate is the `mlperf` scenario: `bench run summarization --scenario mlperf --full --profile llama3.1-8b`.
"""

from __future__ import annotations

import pytest

from bench.suite import SuiteRun
from tests.benchmarks.report import check_result


@pytest.mark.smoke
@pytest.mark.full
@pytest.mark.suite_benchmark("summarization")
@pytest.mark.parametrize("scenario", ["offline"])
def test_summarization(scenario: str, suite: SuiteRun, record_property) -> None:
    check_result(suite.result("summarization", scenario), record_property, suite.run_notes)
