"""Performance benchmark: scoring a full accuracy run beside generating it.

    .venv/bin/python benchmarks/scoring_speed.py [--run results/latest]

Scores 13,368 ROUGE pairs (the size of MLPerf's CNN/DailyMail validation set) and extracts 12,032 answers (MMLU-Pro's
test set) with the project's own functions, on texts shaped like the real ones (summaries ~611 characters as MLPerf's
reference gen_len implies, highlights ~300; CoT answers of a few hundred words). It prints those times beside the
generation time of the smoke run in --run (per-sample generation time of its summarization/mmlu_pro results, scaled
up to the full set sizes) so one sees whether scoring could dominate a full run. Generation times come from the
tiny model on this machine unless the run used another profile: the ratio is what to read on a GPU run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.metrics.mcq import extract_choice
from bench.metrics.rouge import rouge_scores, sentence_splitter

ROUGE_PAIRS = 13_368
EXTRACTIONS = 12_032
_VOCABULARY = (
    "the police said a man was arrested after an attack in the city on tuesday officials report government "
    "president minister killed people year hospital children school family court judge company market "
    "million percent country world storm flood team match goal season club player coach fans"
)
WORDS = _VOCABULARY.split()


def _text(rng: random.Random, chars: int) -> str:
    sentences, size = [], 0
    while size < chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."
        sentences.append(sentence)
        size += len(sentence) + 1
    return " ".join(sentences)


def _answer(rng: random.Random) -> str:
    body = _text(rng, rng.randint(300, 1500))
    ending = rng.choice(["The answer is ({}).", "Answer: {}", "so {} it is", "I cannot decide"])
    return body + " " + ending.format(rng.choice("ABCDEFGHIJ"))


def rouge_set(rng: random.Random, pairs: int) -> tuple[list[str], list[str]]:
    """`pairs` (prediction, reference) texts shaped like CNN/DailyMail summaries and highlights."""
    preds = [_text(rng, 611) for _ in range(pairs)]
    refs = [_text(rng, 300) for _ in range(pairs)]
    return preds, refs


def answer_set(rng: random.Random, count: int) -> list[str]:
    """`count` CoT-style MMLU-Pro responses, most ending in a parseable answer."""
    return [_answer(rng) for _ in range(count)]


def score_rouge(preds: list[str], refs: list[str]) -> None:
    """What is timed for summarization: the project's ROUGE-1/2/L/Lsum over every pair."""
    rouge_scores(preds, refs)


def extract_answers(answers: list[str]) -> None:
    """What is timed for mmlu_pro: the project's answer extraction over every response."""
    for text in answers:
        extract_choice(text)


def _generation_from_run(run: Path) -> dict[str, tuple[float, float]]:
    """benchmark -> (generation seconds, samples) from a run directory's results.json."""
    found: dict[str, tuple[float, float]] = {}
    path = run / "results.json"
    if not path.exists():
        return found
    for result in json.loads(path.read_text()):
        metrics = result.get("metrics", {})
        n = metrics.get("gen_num") or metrics.get("questions")
        if result["benchmark"] in ("summarization", "mmlu_pro") and metrics.get("generation_s") and n:
            found[result["benchmark"]] = (metrics["generation_s"], n)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("results/latest"), help="a smoke run directory")
    args = parser.parse_args()
    rng = random.Random(0)

    preds, refs = rouge_set(rng, ROUGE_PAIRS)
    start = time.perf_counter()
    score_rouge(preds, refs)
    rouge_s = time.perf_counter() - start

    answers = answer_set(rng, EXTRACTIONS)
    start = time.perf_counter()
    extract_answers(answers)
    extract_s = time.perf_counter() - start

    generation = _generation_from_run(args.run.resolve()) if args.run.exists() else {}
    print(f"sentence splitter: {sentence_splitter().name}")
    print(f"{'task':<44} {'scoring':>10} {'generation (smoke, scaled)':>28}")
    for name, label, seconds, full in (
        ("summarization", f"ROUGE-1/2/L/Lsum, {ROUGE_PAIRS:,} pairs", rouge_s, ROUGE_PAIRS),
        ("mmlu_pro", f"answer extraction, {EXTRACTIONS:,} responses", extract_s, EXTRACTIONS),
    ):
        if name in generation:
            gen_s, n = generation[name]
            scaled = gen_s / n * full
            gen = f"{scaled:,.1f} s ({gen_s:.2f} s / {n:.0f} × {full:,})"
            ratio = f"  scoring = {seconds / scaled:.1%} of generation"
        else:
            gen, ratio = f"(no {name} result in {args.run})", ""
        print(f"{label:<44} {seconds:>8.2f} s {gen:>28}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
