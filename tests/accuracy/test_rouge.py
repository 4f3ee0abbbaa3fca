"""rouge_scores against values worked out by hand, and against rouge-score called directly the way MLPerf's
evaluation.py (through HF evaluate) calls it."""

from __future__ import annotations

import random
import statistics

import pytest
from rouge_score import rouge_scorer

from bench.metrics.rouge import (
    ROUGE_TYPES,
    Splitter,
    gen_len,
    rouge_per_sample,
    rouge_scores,
    sentence_splitter,
    split_sentences_fallback,
)

FALLBACK = Splitter("fallback", split_sentences_fallback, exact=False)
NO_SPLIT = Splitter("none", lambda text: [text] if text else [], exact=False)


def f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def test_identical_texts_score_one() -> None:
    scores = rouge_scores(["The cat sat on the mat."], ["The cat sat on the mat."])
    assert scores == pytest.approx(dict.fromkeys(ROUGE_TYPES, 1.0))


def test_disjoint_texts_score_zero() -> None:
    assert rouge_scores(["alpha beta gamma"], ["delta epsilon zeta"]) == dict.fromkeys(ROUGE_TYPES, 0.0)


def test_empty_prediction_scores_zero() -> None:
    assert rouge_scores([""], ["The cat sat."]) == dict.fromkeys(ROUGE_TYPES, 0.0)


def test_by_hand_one_sentence() -> None:
    # pred: the cat sat on the mat / ref: the cat is on the mat (no token longer than 3 letters: no stemming)
    # unigrams: the×2 cat on mat shared = 5 of 6 each side; bigrams: the-cat on-the the-mat = 3 of 5;
    # LCS: the cat on the mat = 5 of 6
    scores = rouge_scores(["the cat sat on the mat"], ["the cat is on the mat"])
    assert scores["rouge1"] == pytest.approx(5 / 6)
    assert scores["rouge2"] == pytest.approx(3 / 5)
    assert scores["rougeL"] == pytest.approx(5 / 6)
    assert scores["rougeLsum"] == pytest.approx(5 / 6)


def test_by_hand_stemmer_is_on() -> None:
    # "cats"→"cat", "jumped"→"jump", "jumps"→"jump" (Porter); "over" stays. pred 4 tokens, ref 3 tokens, 3 shared.
    scores = rouge_scores(["Cats jumped over it"], ["cat jumps over"])
    assert scores["rouge1"] == pytest.approx(f1(3 / 4, 3 / 3))


def test_by_hand_punctuation_and_case_are_ignored() -> None:
    scores = rouge_scores(["HELLO, world!!!"], ["hello world"])
    assert scores["rouge1"] == pytest.approx(1.0)
    assert scores["rouge2"] == pytest.approx(1.0)


def test_by_hand_rouge_lsum_uses_sentence_split() -> None:
    # Two sentences swapped. Flat LCS: "the dog ran" = 3 of 6 → 0.5. Summary-level (per reference sentence, union
    # LCS over prediction sentences): "the dog ran" 3 hits + "cat sat" 2 hits = 5 of 6 → 5/6.
    pred, ref = "The cat sat. The dog ran.", "The dog ran. A cat sat."
    scores = rouge_scores([pred], [ref], splitter=FALLBACK)
    assert scores["rougeL"] == pytest.approx(0.5)
    assert scores["rougeLsum"] == pytest.approx(5 / 6)
    # without a sentence split, Lsum degenerates to L
    assert rouge_scores([pred], [ref], splitter=NO_SPLIT)["rougeLsum"] == pytest.approx(0.5)


def test_mean_over_pairs() -> None:
    per = rouge_per_sample(["a b c d", "x y"], ["a b c d", "x z"])
    assert per[0]["rouge1"] == 1.0
    assert per[1]["rouge1"] == pytest.approx(0.5)
    assert rouge_scores(["a b c d", "x y"], ["a b c d", "x z"])["rouge1"] == pytest.approx(0.75)


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        rouge_scores(["a", "b"], ["a"])


def _mlperf_way(preds: list[str], refs: list[str], split) -> dict[str, float]:
    """evaluation.py: strip + "\\n".join(sent_tokenize(.)) both sides, evaluate's rouge = RougeScorer(use_stemmer=True)
    .score(ref, pred).fmeasure per pair, mean."""
    preds = ["\n".join(split(p.strip())) for p in preds]
    refs = ["\n".join(split(r.strip())) for r in refs]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    scores = [scorer.score(r, p) for p, r in zip(preds, refs, strict=True)]
    return {t: statistics.fmean(s[t].fmeasure for s in scores) for t in ROUGE_TYPES}


_VOCABULARY = (
    "police said the man was arrested after an attack in the city on Tuesday . officials running reports killed "
    "people years hospital children's school U.S. Mr. Smith 2014 £20m \" quoted ' running runner runs ! ?"
)
WORDS = _VOCABULARY.split()


def _random_text(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 25))]
        out.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", " .", ""]))
    return rng.choice([" ", "  ", "\n", " \n"]).join(out)


def test_matches_rouge_score_called_directly_on_random_texts() -> None:
    rng = random.Random(3)
    preds = [_random_text(rng, rng.randint(0, 6)) for _ in range(300)]
    refs = [_random_text(rng, rng.randint(1, 4)) for _ in range(300)]
    for splitter in (FALLBACK, NO_SPLIT, sentence_splitter()):
        ours = rouge_scores(preds, refs, splitter=splitter)
        assert ours == pytest.approx(_mlperf_way(preds, refs, splitter.split), abs=1e-12)
        assert all(0.0 <= v <= 1.0 for v in ours.values())


def test_scores_in_unit_interval_and_keys() -> None:
    scores = rouge_scores(["Some words here. More words."], ["Other words here."])
    assert set(scores) == set(ROUGE_TYPES)
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_gen_len_counts_characters_after_postprocessing() -> None:
    # strip, then sentences joined by "\n": "  Cats ran.  Dogs sat.  " → "Cats ran.\nDogs sat." (19 characters)
    assert gen_len(["  Cats ran.  Dogs sat.  "], FALLBACK) == 19
    assert gen_len(["", "abc"], FALLBACK) == 3


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("Mr. Smith met Dr. Jones in the U.S. on Monday.", ["Mr. Smith met Dr. Jones in the U.S. on Monday."]),
        ("J. K. Rowling wrote it. It sold.", ["J. K. Rowling wrote it.", "It sold."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("It cost $3.50 today. Prices rose 2.5 percent.", ["It cost $3.50 today.", "Prices rose 2.5 percent."]),
        ("ends with e.g. lowercase next. Next one.", ["ends with e.g. lowercase next.", "Next one."]),
        ("Line one .\nLine two .", ["Line one .", "Line two ."]),
        ("", []),
        ("no punctuation at all", ["no punctuation at all"]),
    ],
)
def test_fallback_splitter(text: str, sentences: list[str]) -> None:
    assert split_sentences_fallback(text) == sentences


def test_splitter_is_named() -> None:
    splitter = sentence_splitter()
    assert splitter.name
    if not splitter.exact:
        assert "fallback" in splitter.name
