"""How a suite test reports a Result: metrics as JUnit properties, then one assertion with the reasons."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench.results.schema import Result


def check_result(result: Result, record_property: Callable[[str, Any], None]) -> None:
    for name, value in result.metrics.items():
        record_property(name, round(value, 6))
    record_property("passed", result.passed)
    if result.error:
        record_property("error", result.error)
        pytest.fail(f"{result.key}: {result.error}", pytrace=False)
    failures = result.failed_thresholds()
    assert not failures, f"{result.key} missed its gates: " + "; ".join(failures)
