"""mmlu_pro through the selected executor: MMLU-Pro 5-shot CoT accuracy, overall and per category."""

from __future__ import annotations

import pytest

from bench.suite import SuiteRun
from tests.benchmarks.report import check_result


@pytest.mark.smoke
@pytest.mark.full
@pytest.mark.suite_benchmark("mmlu_pro")
@pytest.mark.parametrize("scenario", ["offline"])
def test_mmlu_pro(scenario: str, suite: SuiteRun, record_property) -> None:
    check_result(suite.result("mmlu_pro", scenario), record_property, suite.run_notes)
