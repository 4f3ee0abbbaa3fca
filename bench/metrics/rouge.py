"""ROUGE the way MLPerf Inference scores llama3.1-8b summaries.

Source: mlcommons/inference `language/llama3.1-8b/evaluation.py`:
    preds/targets  -> strip() -> "\\n".join(nltk.sent_tokenize(text))      (postprocess_text, for rougeLsum)
    evaluate.load("rouge").compute(predictions, references, use_stemmer=True, use_aggregator=False)
    score          -> mean over samples (×100 and rounded there; fractions here)
    gen_len        -> sum of len(prediction) after the post-processing above (characters, not tokens)
HF `evaluate`'s rouge is a thin wrapper over `rouge_score.rouge_scorer.RougeScorer(types, use_stemmer).score(ref,
pred)` keeping the F-measure; we call `rouge-score` directly (same package the reference pins, 0.1.2).

Sentence splitting only changes rougeLsum (rouge-score splits summaries on "\\n" for it; the other types tokenize on
non-alphanumerics, so newlines and spaces are the same to them) and the whitespace counted in gen_len. MLPerf uses
`nltk.sent_tokenize` (Punkt, English). Its data (`punkt_tab`) is not part of the nltk package; when it is not
installed (`python -m nltk.downloader punkt_tab`, or NLTK_DATA pointing at a copy) we fall back to
`split_sentences_fallback`, a small rule-based splitter, and say so in the result (`sentence_splitter`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.errors import BenchError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
USE_STEMMER = True  # evaluation.py: metric.compute(..., use_stemmer=True)

SentenceSplitter = Callable[[str], list[str]]


@dataclass(frozen=True)
class Splitter:
    name: str  # recorded in the result config
    split: SentenceSplitter
    exact: bool  # True when it is MLPerf's own splitter (nltk punkt)


# --- fallback sentence splitter -------------------------------------------------------------------------------
# A boundary is [.!?] (plus closing quotes/brackets) followed by whitespace and a capital, digit or opening quote —
# unless the word before the period is a known abbreviation or a single letter (an initial, "J. K. Rowling").
# It approximates Punkt on news text; it only affects rougeLsum (and gen_len by inter-sentence whitespace).
_ABBREVIATIONS = frozenset((
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "gen", "gov", "sen", "rep", "lt", "col", "sgt",
    "capt", "cmdr", "adm", "rev", "hon", "pres", "supt", "insp", "inc", "ltd", "co", "corp", "bros", "vs", "etc",
    "al", "approx", "dept", "jan", "feb", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s",
    "u.k", "u.n", "e.g", "i.e", "a.m", "p.m", "d.c",
))
_BOUNDARY = re.compile(r"""[.!?]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9])""")


def split_sentences_fallback(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if match.group().startswith(".") and _is_abbreviation(text[start : match.start()]):
            continue
        sentence = text[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_abbreviation(before: str) -> bool:
    words = before.split()
    if not words:
        return False
    word = words[-1].lstrip("\"'“‘([").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


@functools.cache
def sentence_splitter() -> Splitter:
    """MLPerf's splitter (nltk.sent_tokenize) when nltk and its punkt data are installed, else the fallback."""
    try:
        import nltk

        nltk.sent_tokenize("Probe one. Probe two.")
        return Splitter(f"nltk {nltk.__version__} sent_tokenize (punkt, english)", nltk.sent_tokenize, exact=True)
    except (ImportError, LookupError):
        return Splitter(
            "fallback rule-based splitter (bench.metrics.rouge.split_sentences_fallback): nltk punkt data not "
            "installed; rougeLsum may differ slightly from MLPerf's",
            split_sentences_fallback,
            exact=False,
        )


def postprocess(texts: Sequence[str], split: SentenceSplitter) -> list[str]:
    """evaluation.py postprocess_text: strip, then one sentence per line."""
    return ["\n".join(split(text.strip())) for text in texts]


class _MemoStemmer:
    """rouge-score's Porter stemmer with a memo: the same words recur across 13k summaries, and stemming is
    most of the scoring time. Same stems, same scores (the stemmer is a pure function of the word)."""

    def __init__(self) -> None:
        from nltk.stem import porter  # the stemmer rouge-score's DefaultTokenizer builds

        self._stem = porter.PorterStemmer().stem
        self._memo: dict[str, str] = {}

    def stem(self, word: str) -> str:
        stem = self._memo.get(word)
        if stem is None:
            stem = self._memo[word] = self._stem(word)
        return stem


@functools.cache
def _scorer():
    try:
        from rouge_score import rouge_scorer, tokenize, tokenizers
    except ImportError:
        raise BenchError("rouge-score is not installed: pip install rouge-score (in the cpu/gpu extras)") from None

    class MemoTokenizer(tokenizers.Tokenizer):  # = tokenizers.DefaultTokenizer(use_stemmer=True), memoized
        def __init__(self) -> None:
            self._stemmer = _MemoStemmer() if USE_STEMMER else None

        def tokenize(self, text: str) -> list[str]:
            return tokenize.tokenize(text, self._stemmer)

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=MemoTokenizer())


def rouge_per_sample(
    predictions: Sequence[str], references: Sequence[str], splitter: Splitter | None = None
) -> list[dict[str, float]]:
    """F-measure of each ROUGE type for each (prediction, reference) pair, after MLPerf's post-processing."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    split = (splitter or sentence_splitter()).split
    scorer = _scorer()
    out = []
    for pred, ref in zip(postprocess(predictions, split), postprocess(references, split), strict=True):
        scores = scorer.score(ref, pred)  # rouge-score's argument order: (target, prediction)
        out.append({t: scores[t].fmeasure for t in ROUGE_TYPES})
    return out


def rouge_scores(
    predictions: list[str], references: list[str], *, splitter: Splitter | None = None
) -> dict[str, float]:
    """Mean ROUGE-1/2/L/Lsum F-measures over the pairs, as fractions in 0..1 (MLPerf reports them ×100)."""
    per_sample = rouge_per_sample(predictions, references, splitter)
    if not per_sample:
        raise ValueError("no predictions to score")
    return {t: sum(s[t] for s in per_sample) / len(per_sample) for t in ROUGE_TYPES}


def gen_len(predictions: Sequence[str], splitter: Splitter | None = None) -> int:
    """MLPerf's gen_len: characters of the post-processed predictions, summed."""
    return sum(len(p) for p in postprocess(predictions, (splitter or sentence_splitter()).split))
