"""How a suite test reports a Result: metrics as JUnit properties, then one assertion with the reasons."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import pytest

from bench.results.schema import Result


def check_result(result: Result, record_property: Callable[[str, Any], None], run_notes: Collection[str] = (),
                 ) -> None:
    """`run_notes`: the notes of the whole run (the header shows them); a failure's message adds the result's own."""
    for name, value in result.metrics.items():
        record_property(name, round(value, 6))
    record_property("passed", result.passed)
    own = [n for n in dict.fromkeys(result.notes) if n not in run_notes]
    why = f" — notes: {'; '.join(own)}" if own else ""
    if result.error:
        record_property("error", result.error)
        pytest.fail(f"{result.key}: {result.error}{why}", pytrace=False)
    failures = result.failed_thresholds()
    assert not failures, f"{result.key} missed its gates: {'; '.join(failures)}{why}"
