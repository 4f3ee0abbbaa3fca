"""extract_choice and TIGER's scoring rule, on every response shape we could think of.

The oracle below is TIGER-AI-Lab/MMLU-Pro evaluate_from_local.py (HEAD) transcribed as written there, global
random state and all; our functions must agree with it on every case.
"""

from __future__ import annotations

import random
import re
import string

import pytest

from bench.metrics.mcq import extract_choice, extraction_stage, is_correct, random_fallback_index


def tiger_extract_answer(text):  # oracle: extract_answer → extract_again → extract_final
    match = re.search(r"answer is \(?([A-J])\)?", text)
    if match:
        return match.group(1)
    match = re.search(r".*[aA]nswer:\s*([A-J])", text)
    if match:
        return match.group(1)
    match = re.search(r"\b[A-J]\b(?!.*\b[A-J]\b)", text, re.DOTALL)
    if match:
        return match.group(0)
    return None


def tiger_is_correct(pred, answer, answer_index, options):  # oracle: save_res
    if not pred:
        random.seed(12345)
        x = random.randint(0, len(options) - 1)
        return x == answer_index
    return pred == answer


CASES = [
    # (response, expected letter, stage)
    ("Let's see... the answer is (C).", "C", 1),
    ("the answer is C", "C", 1),
    ("the answer is (C", "C", 1),
    ("The answer is J.", "J", 1),
    # stage 1 wins over a later, different stage-2 answer and over a later letter
    ("So the answer is (B). Answer: D. Finally E", "B", 1),
    # several "answer is": the first one wins (re.search)
    ("the answer is (A) ... no wait, the answer is (B)", "A", 1),
    # stage 1 is case-sensitive: "Answer is" / "ANSWER IS" do not match it
    ("The Answer is (D)", "D", 3),
    ("THE ANSWER IS (E) OK", "E", 3),
    # lower-case letters never match stage 1 or 2; stage 3 wants a capital A–J
    ("the answer is (c)", None, None),
    ("the answer is (c). I said C", "C", 3),
    # letters outside A–J
    ("the answer is (K)", None, None),
    ("the answer is (K). Option B looks close", "B", 3),
    ("Answer: P", None, None),
    # stage 2: "Answer:" or "answer:" followed by a letter, whitespace (even newlines) allowed
    ("Answer: B", "B", 2),
    ("answer:   G because", "G", 2),
    ("Final Answer:\n\nH", "H", 2),
    # stage 2 without DOTALL: the last "Answer: X" on the first line that has one wins
    ("Answer: A then Answer: B\nAnswer: C", "B", 2),
    ("prelude\nAnswer: C\nmore Answer: D", "C", 2),
    # stage 3: the last standalone capital A–J anywhere (DOTALL), words don't count
    ("I think it is B.\nBut on reflection D\nis right.", "D", 3),
    ("A good candidate is (F), maybe.", "F", 3),
    ("Because JSON and HTML are formats", None, None),
    ("An Internet", None, None),
    ("option A)", "A", 3),
    ("E=mc^2 and F=ma", "F", 3),
    ("I", "I", 3),  # the pronoun "I" is a letter in A–J: TIGER extracts it too
    # empty / whitespace / gibberish
    ("", None, None),
    ("   \n\t ", None, None),
    ("ĠĠ♦ 123 !!", None, None),
    # the stop string is cut by the engine; a half-started next question keeps its letters
    ("the answer is (A).\n\n", "A", 1),
]


@pytest.mark.parametrize(("text", "expected", "stage"), CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_extract_choice_matches_tiger(text: str, expected: str | None, stage: int | None) -> None:
    assert tiger_extract_answer(text) == expected  # the case is right about the reference
    assert extract_choice(text) == expected
    assert extraction_stage(text) == stage


def test_extract_choice_agrees_with_tiger_on_random_text() -> None:
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPabcdej ()\n:.,answerisAnswer" + string.digits
    pieces = ["answer is ", "Answer: ", "answer:", "(", ")", "\n", " the ", "is "]
    for _ in range(4000):
        size = rng.choice([5, 40, 200])
        text = "".join(rng.choice(pieces) if rng.random() < 0.3 else rng.choice(alphabet) for _ in range(size))
        assert extract_choice(text) == tiger_extract_answer(text), text
        stages = [re.search(r"answer is \(?([A-J])\)?", text), re.search(r".*[aA]nswer:\s*([A-J])", text),
                  re.search(r"\b[A-J]\b(?!.*\b[A-J]\b)", text, re.DOTALL)]
        assert extraction_stage(text) == next((i + 1 for i, m in enumerate(stages) if m), None), text


@pytest.mark.parametrize("num_options", range(1, 11))
def test_random_fallback_is_tigers_seeded_guess(num_options: int) -> None:
    state = random.getstate()
    try:
        random.seed(12345)
        expected = random.randint(0, num_options - 1)
        random.seed(999)
        before = random.random()
        random.seed(999)
        assert random_fallback_index(num_options) == expected
        assert random.random() == before  # the global generator is left alone
    finally:
        random.setstate(state)


@pytest.mark.parametrize("num_options", [3, 4, 10])
@pytest.mark.parametrize("answer_index", range(10))
@pytest.mark.parametrize("pred", [None, "", "A", "C", "J"])
def test_is_correct_matches_tiger_save_res(pred: str | None, answer_index: int, num_options: int) -> None:
    if answer_index >= num_options:
        return
    answer = "ABCDEFGHIJ"[answer_index]
    options = [f"o{i}" for i in range(num_options)]
    state = random.getstate()
    try:
        expected = tiger_is_correct(pred, answer, answer_index, options)
    finally:
        random.setstate(state)
    assert is_correct(pred, answer, answer_index, num_options) == expected
    # strict: a miss is wrong, a hit is judged on the letter
    assert is_correct(pred, answer, answer_index, num_options, random_fallback=False) == (bool(pred) and expected)


def test_random_fallback_hits_the_same_index_for_every_miss() -> None:
    # TIGER reseeds for every failed item, so with 10 options every miss guesses the same index.
    guesses = {random_fallback_index(10) for _ in range(5)}
    assert len(guesses) == 1
