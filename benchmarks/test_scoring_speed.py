"""pytest-benchmark of what benchmarks/scoring_speed.py times: ROUGE over a fixed set of summary pairs, and MMLU-Pro
answer extraction over a fixed set of responses, with the project's own scoring functions."""

from __future__ import annotations

import random
from typing import Any

import pytest

pytest.importorskip("pytest_benchmark", reason="these benchmarks run under pytest-benchmark (the dev extra)")

import scoring_speed  # benchmarks/scoring_speed.py (conftest.py puts benchmarks/ on sys.path)

# The script scores MLPerf's full 13,368 pairs once (~7 ms a pair on this 2-core machine); a round here scores 100,
# and extra_info scales the median up to the full set. Extraction is cheap: every round does MMLU-Pro's 12,032.
ROUGE_PAIRS = 100
EXTRACTIONS = scoring_speed.EXTRACTIONS


@pytest.fixture(scope="module")
def rouge_pairs() -> tuple[list[str], list[str]]:
    return scoring_speed.rouge_set(random.Random(0), ROUGE_PAIRS)


@pytest.fixture(scope="module")
def answers() -> list[str]:
    return scoring_speed.answer_set(random.Random(1), EXTRACTIONS)


def _scaled(benchmark: Any, done: int, full: int) -> dict[str, float]:
    if benchmark.stats is None:  # --benchmark-disable
        return {}
    return {"full_set_estimate_s": round(benchmark.stats.stats.median / done * full, 3)}


@pytest.mark.benchmark(group="scoring")
def test_rouge_scoring(benchmark: Any, measured: Any, rouge_pairs: tuple[list[str], list[str]]) -> None:
    preds, refs = rouge_pairs
    benchmark(measured(scoring_speed.score_rouge), preds, refs)
    benchmark.extra_info.update(pairs=ROUGE_PAIRS, full_set_pairs=scoring_speed.ROUGE_PAIRS,
                                sentence_splitter=scoring_speed.sentence_splitter().name,
                                **_scaled(benchmark, ROUGE_PAIRS, scoring_speed.ROUGE_PAIRS))


@pytest.mark.benchmark(group="scoring")
def test_answer_extraction(benchmark: Any, measured: Any, answers: list[str]) -> None:
    benchmark(measured(scoring_speed.extract_answers), answers)
    benchmark.extra_info.update(responses=EXTRACTIONS, **_scaled(benchmark, EXTRACTIONS, EXTRACTIONS))
