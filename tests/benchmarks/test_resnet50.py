"""resnet50 through the selected executor: torchvision ResNet-50 under MLPerf LoadGen, one test per scenario.

The metrics are LoadGen's own (mlperf_log_detail.txt); `result_valid` is LoadGen's verdict on the run."""

from __future__ import annotations

import pytest

from bench.suite import SuiteRun
from tests.benchmarks.report import check_result


@pytest.mark.smoke
@pytest.mark.full
@pytest.mark.suite_benchmark("resnet50")
@pytest.mark.parametrize("scenario", ["Offline", "Server", "SingleStream", "MultiStream"])
def test_resnet50(scenario: str, suite: SuiteRun, record_property) -> None:
    check_result(suite.result("resnet50", scenario), record_property, suite.run_notes)
