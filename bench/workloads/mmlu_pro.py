"""mmlu_pro — MMLU-Pro 5-shot chain-of-thought accuracy, as TIGER-Lab's evaluate_from_local.py measures it.

Each test question gets the first k validation questions of its category as worked examples (k = 5, reduced one at a
time while the prompt has ≥ 2048 tokens), raw text without a chat template; greedy decoding up to 2048 new tokens,
stopping at "Question:"; the answer letter by three regexes (bench.metrics.mcq), and TIGER's seeded random guess when
none matches (random_fallback=true, the default) or a wrong answer (false: strict). Accuracy is the micro average;
per-category accuracy and the extraction-failure rate are reported beside it (metrics `<name>.<category>`).

Per-sample records (id, category, shots, prompt tokens, output, extracted letter, stage, correct) go to
<run>/raw/artifacts/mmlu_pro-<scenario>.jsonl.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.config import non_negative, positive
from bench.data.mmlu_pro import Question, load_mmlu_pro
from bench.engines import Sampling
from bench.errors import BenchError, ConfigError
from bench.metrics.mcq import extract_choice, extraction_stage, is_correct
from bench.workloads.base import Measurement, WorkloadContext

# --- the benchmark as TIGER-AI-Lab/MMLU-Pro defines it (evaluate_from_local.py, cot_prompt_lib/initial_prompt.txt) ---
HEADER = (
    "The following are multiple choice questions (with answers) about {subject}. Think step by step and then finish "
    'your answer with "the answer is (X)" where X is the correct letter choice.'
)  # initial_prompt.txt with {$} → category; generate_cot_prompt appends "\n"
CHOICES = "ABCDEFGHIJKLMNOP"  # `choices` in the script
COT_REWRITE = ("A: Let's think step by step.", "Answer: Let's think step by step.")  # format_cot_example
ANSWER_CUE = "Answer: Let's think step by step."  # ends the test question
STOP = ("Question:",)  # SamplingParams(temperature=0, max_tokens=2048, stop=["Question:"])
MAX_NEW_TOKENS = 2048
MAX_MODEL_LEN = 4096  # LLM(max_model_len=4096): a prompt must have < 4096 - 2048 tokens, else k -= 1
NUM_SHOTS = 5  # --ntrain 5
PUBLISHED = {"meta-llama/Llama-3.1-8B-Instruct": "48.3 (Meta model card); 44.19 (TIGER's shipped outputs)"}


@dataclass(frozen=True)
class Params:
    num_prompts: int = non_negative(10)  # N test questions, taken round-robin over categories; 0 = the whole set
    dataset: str = "bundled"  # "bundled" | "hf" | a directory with test* and validation* files
    num_shots: int = non_negative(NUM_SHOTS)
    max_tokens: int = positive(MAX_NEW_TOKENS)
    max_prompt_tokens: int = positive(MAX_MODEL_LEN - MAX_NEW_TOKENS)  # shots are dropped until prompt < this
    random_fallback: bool = True  # TIGER's seeded random guess for unextractable answers; false = strict

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError(f"mmlu_pro: dataset must be 'bundled', 'hf' or a directory, got {self.dataset!r}")
        if not isinstance(self.random_fallback, bool):
            raise ConfigError(f"mmlu_pro: random_fallback must be true or false, got {self.random_fallback!r}")


def format_example(q: Question, including_answer: bool) -> str:
    """format_cot_example: the question, its lettered options, then its worked answer or the answer cue."""
    text = f"Question:\n{q.question}\nOptions:\n"
    text += "".join(f"{CHOICES[i]}. {opt}\n" for i, opt in enumerate(q.options))
    if including_answer:
        return text + q.cot_content.replace(*COT_REWRITE) + "\n\n"
    return text + ANSWER_CUE


def build_prompt(q: Question, shots: list[Question]) -> str:
    """generate_cot_prompt: header + "\\n", the worked examples, then the question."""
    prompt = HEADER.format(subject=q.category) + "\n"
    prompt += "".join(format_example(s, including_answer=True) for s in shots)
    return prompt + format_example(q, including_answer=False)


def shots_for(validation: list[Question], category: str, k: int) -> list[Question]:
    """select_by_category(val_df, subject)[:k] — the first k validation questions of the category."""
    return [v for v in validation if v.category == category][:k]


def fit_prompt(
    q: Question, validation: list[Question], num_shots: int, count: Callable[[str], int], max_prompt_tokens: int
) -> tuple[str, int, int]:
    """(prompt, shots used, prompt tokens): k shots, reduced while the prompt has ≥ max_prompt_tokens tokens."""
    for k in range(num_shots, -1, -1):
        prompt = build_prompt(q, shots_for(validation, q.category, k))
        n = count(prompt)
        if n < max_prompt_tokens:
            return prompt, k, n
    raise BenchError(
        f"question {q.question_id} ({q.category}) has {n} prompt tokens with no shots, ≥ max_prompt_tokens "
        f"{max_prompt_tokens}: the model's context cannot hold it"
    )


def select_questions(test: list[Question], n: int) -> list[Question]:
    """The first n questions taking one per category in turn (categories sorted), so a smoke run sees them all."""
    if not n or n >= len(test):
        return list(test)
    by_category: dict[str, list[Question]] = defaultdict(list)
    for q in test:
        by_category[q.category].append(q)
    queues = [by_category[c] for c in sorted(by_category)]
    picked: list[Question] = []
    depth = 0
    while len(picked) < n:
        for queue in queues:
            if depth < len(queue) and len(picked) < n:
                picked.append(queue[depth])
        depth += 1
    return picked


def sampling_for(params: Params) -> Sampling:
    return Sampling(max_tokens=params.max_tokens, temperature=0.0, stop=STOP)


def metric_key(category: str) -> str:
    return category.replace(" ", "_")


def run(scenario: str, params: Params, ctx: WorkloadContext) -> Measurement:
    test, validation, source = load_mmlu_pro(params.dataset)
    questions = select_questions(test, params.num_prompts)
    engine = ctx.llm()
    tokenizer = engine.tokenizer()

    def count(prompt: str) -> int:  # tokenizer(prompt)["input_ids"], special tokens included, as TIGER counts
        return len(tokenizer(prompt)["input_ids"])

    fitted = [fit_prompt(q, validation, params.num_shots, count, params.max_prompt_tokens) for q in questions]
    prompts = [p for p, _, _ in fitted]
    ctx.log(f"[bench] mmlu_pro: {len(prompts)} questions, {params.num_shots}-shot CoT, greedy, "
            f"≤ {params.max_tokens} new tokens, stop {STOP}")
    start = time.perf_counter()
    completions = engine.generate(prompts, sampling_for(params))  # text prompts, as the script sends them
    generation_s = time.perf_counter() - start

    start = time.perf_counter()
    preds = [extract_choice(c.text) for c in completions]
    scored = [
        (is_correct(p, q.answer, q.answer_index, len(q.options), params.random_fallback),
         is_correct(p, q.answer, q.answer_index, len(q.options), random_fallback=False))
        for p, q in zip(preds, questions, strict=True)
    ]
    scoring_s = time.perf_counter() - start

    metrics = _accuracy_metrics(questions, preds, scored)
    metrics |= {
        "mean_prompt_tokens": sum(n for _, _, n in fitted) / len(fitted),
        "mean_shots": sum(k for _, k, _ in fitted) / len(fitted),
        "mean_output_tokens": sum(c.output_tokens for c in completions) / len(completions),
        "generation_s": generation_s,
        "scoring_s": scoring_s,
    }
    records_path = ctx.artifacts_dir / f"mmlu_pro-{scenario}.jsonl"
    _write_records(records_path, questions, fitted, completions, preds, scored)
    config = {
        "model": ctx.model,
        **asdict(params),
        "dataset_source": source,
        "prompt_header": HEADER,
        "sampling": asdict(sampling_for(params)),
        "extraction": "TIGER 3-stage regex (bench.metrics.mcq.EXTRACTION_STAGES)"
        + (", seeded random fallback (seed 12345)" if params.random_fallback else ", strict (no fallback)"),
        "categories": sorted({q.category for q in questions}),
        "published_reference": PUBLISHED.get(ctx.model, ""),
        "records": str(records_path),
    }
    notes = []
    if metrics["extraction_failure_rate"] > 0:
        notes.append(f"{metrics['extraction_failure_rate']:.1%} of answers could not be extracted"
                     + (" (scored by TIGER's seeded random guess)" if params.random_fallback else " (scored wrong)"))
    return Measurement(metrics=metrics, config=config, notes=notes)


def _accuracy_metrics(
    questions: list[Question], preds: list[str | None], scored: list[tuple[bool, bool]]
) -> dict[str, float]:
    def block(idx: list[int], suffix: str) -> dict[str, float]:
        n = len(idx)
        return {
            f"accuracy{suffix}": sum(scored[i][0] for i in idx) / n,
            f"accuracy_strict{suffix}": sum(scored[i][1] for i in idx) / n,
            f"extraction_failure_rate{suffix}": sum(not preds[i] for i in idx) / n,
            f"questions{suffix}": float(n),
        }

    metrics = block(list(range(len(questions))), "")
    by_category: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(questions):
        by_category[q.category].append(i)
    for category in sorted(by_category):
        metrics |= block(by_category[category], f".{metric_key(category)}")
    return metrics


def _write_records(path, questions, fitted, completions, preds, scored) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for q, (_, k, n), c, pred, (ok, ok_strict) in zip(questions, fitted, completions, preds, scored, strict=True):
            record = {
                "id": q.question_id, "category": q.category, "shots": k, "prompt_tokens": n,
                "output_tokens": c.output_tokens, "finish_reason": c.finish_reason, "output": c.text,
                "extracted": pred, "stage": extraction_stage(c.text), "answer": q.answer,
                "correct": ok, "correct_strict": ok_strict,
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
