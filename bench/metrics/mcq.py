"""Multiple-choice answer extraction and scoring, exactly as TIGER-Lab's MMLU-Pro script does it.

Source: TIGER-AI-Lab/MMLU-Pro `evaluate_from_local.py` (HEAD):
    extract_answer: re.search(r"answer is \\(?([A-J])\\)?", text)            -> group(1)
    extract_again:  re.search(r".*[aA]nswer:\\s*([A-J])", text)               -> group(1)
    extract_final:  re.search(r"\\b[A-J]\\b(?!.*\\b[A-J]\\b)", text, re.DOTALL) -> group(0)   (last standalone letter)
    save_res:       if not pred: random.seed(12345); x = random.randint(0, len(options) - 1); correct iff
                    x == answer_index  — the seed is reset for every failed item, so the guess depends only on the
                    number of options.
lm-evaluation-harness's `mmlu_pro` keeps only the first regex and scores a miss as wrong; `strict` scoring here
(random_fallback=False) is that rule for misses.
"""

from __future__ import annotations

import random
import re

# (pattern, group) in order; the first stage that matches wins. Case-sensitive, letters A–J only, like TIGER.
EXTRACTION_STAGES: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"answer is \(?([A-J])\)?"), 1),
    (re.compile(r".*[aA]nswer:\s*([A-J])"), 1),
    (re.compile(r"\b[A-J]\b(?!.*\b[A-J]\b)", re.DOTALL), 0),
)
RANDOM_FALLBACK_SEED = 12345


# Stages 2 and 3 as written re-scan the text from every start position (quadratic on a long answer without
# newlines: seconds per response). These find the same match in one pass; tests check them against the regexes above.
_ANSWER_COLON = re.compile(r"[aA]nswer:\s*([A-J])")
_STANDALONE_LETTER = re.compile(r"\b[A-J]\b")


def _stage2(text: str) -> str | None:
    """`.*[aA]nswer:\\s*([A-J])` without DOTALL: the last "answer: X" starting on the first line that has one."""
    found = _ANSWER_COLON.search(text)
    if found is None:
        return None
    line_end = text.find("\n", found.start())
    while True:  # matches may overlap ("answer:Answer: B"), so step one character, not past the match
        following = _ANSWER_COLON.search(text, found.start() + 1)
        if following is None or (line_end != -1 and following.start() > line_end):
            return found.group(1)
        found = following


def _stage3(text: str) -> str | None:
    """`\\b[A-J]\\b(?!.*\\b[A-J]\\b)` with DOTALL: the last standalone capital A–J."""
    found = None
    for found in _STANDALONE_LETTER.finditer(text):  # noqa: B007 - we want the last one
        pass
    return found.group(0) if found else None


def extract_choice(text: str) -> str | None:
    """The answer letter by TIGER's three regex stages (first match wins), or None: no fallback here."""
    match = EXTRACTION_STAGES[0][0].search(text)
    if match:
        return match.group(1)
    return _stage2(text) or _stage3(text)


def extraction_stage(text: str) -> int | None:
    """Which stage (1–3) produced the answer, for per-sample records; None when none matched."""
    if EXTRACTION_STAGES[0][0].search(text):
        return 1
    if _stage2(text):
        return 2
    return 3 if _stage3(text) else None


def random_fallback_index(num_options: int) -> int:
    """TIGER's guess for an unextractable answer: `random.seed(12345); random.randint(0, n - 1)`.

    A private Random seeded the same way yields the same number without touching the global generator.
    """
    return random.Random(RANDOM_FALLBACK_SEED).randint(0, num_options - 1)


def is_correct(
    pred: str | None, answer: str, answer_index: int, num_options: int, random_fallback: bool = True
) -> bool:
    """TIGER's save_res rule; with random_fallback=False a missing answer is simply wrong (strict)."""
    if not pred:
        return random_fallback and random_fallback_index(num_options) == answer_index
    return pred == answer
