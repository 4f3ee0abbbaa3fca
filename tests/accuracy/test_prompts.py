"""The exact prompt strings both benchmarks send, on bundled items, against the references' own construction."""

from __future__ import annotations

import pytest

from bench.data.cnn_dailymail import load_articles
from bench.data.mmlu_pro import load_mmlu_pro
from bench.errors import BenchError
from bench.workloads import mmlu_pro as mp
from bench.workloads import summarization as sm

TIGER_INITIAL_PROMPT = (  # cot_prompt_lib/initial_prompt.txt (HEAD)
    'The following are multiple choice questions (with answers) about {$}. Think step by step and then finish your '
    'answer with "the answer is (X)" where X is the correct letter choice.'
)
TIGER_CHOICES = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P"]


def tiger_format_cot_example(example, including_answer=True):  # evaluate_from_local.py, transcribed
    prompt = "Question:\n"
    prompt += example["question"] + "\n"
    prompt += "Options:\n"
    for i, opt in enumerate(example["options"]):
        prompt += "{}. {}\n".format(TIGER_CHOICES[i], opt)  # noqa: UP032 - as written there
    if including_answer:
        cot_content = example["cot_content"].replace("A: Let's think step by step.",
                                                     "Answer: Let's think step by step.")
        prompt += cot_content + "\n\n"
    else:
        prompt += "Answer: Let's think step by step."
    return prompt


def tiger_generate_cot_prompt(val_df, curr, k):
    subject = curr["category"]
    val_df = [e for e in val_df if e["category"] == subject][:k]
    prompt = TIGER_INITIAL_PROMPT.replace("{$}", subject) + "\n"
    for example in val_df:
        prompt += tiger_format_cot_example(example, including_answer=True)
    prompt += tiger_format_cot_example(curr, including_answer=False)
    return prompt


def _as_dict(q):
    return {"question": q.question, "options": list(q.options), "cot_content": q.cot_content, "category": q.category}


def test_summarization_prompt_is_mlperfs() -> None:
    article = load_articles("bundled")[0][0].article
    assert sm.build_prompt(article) == (
        "Summarize the following news article in 128 tokens. Please output the summary only, without any other text."
        "\n\nArticle:\n" + article + "\n\nSummary:"
    )
    assert sm.build_prompt(article).startswith("Summarize the following news article in 128 tokens. Please output "
                                               "the summary only, without any other text.\n\nArticle:\n(Harbour Daily)")


@pytest.mark.parametrize("k", [0, 1, 5])
def test_mmlu_pro_prompts_equal_tigers_for_every_bundled_question(k: int) -> None:
    test, validation, _ = load_mmlu_pro("bundled")
    val = [_as_dict(v) for v in validation]
    for q in test:
        ours = mp.build_prompt(q, mp.shots_for(validation, q.category, k))
        assert ours == tiger_generate_cot_prompt(val, _as_dict(q), k)


def test_mmlu_pro_zero_shot_prompt_literal() -> None:
    test, _, _ = load_mmlu_pro("bundled")
    q = next(q for q in test if q.question_id == 72)
    assert mp.build_prompt(q, []) == (
        "The following are multiple choice questions (with answers) about biology. Think step by step and then finish "
        'your answer with "the answer is (X)" where X is the correct letter choice.\n'
        "Question:\nWhere in the human body is insulin produced?\nOptions:\nA. Liver\nB. Pancreas\nC. Kidney\n"
        "D. Stomach\nAnswer: Let's think step by step."
    )


def test_mmlu_pro_shot_text_rewrites_the_cot_cue() -> None:
    _, validation, _ = load_mmlu_pro("bundled")
    text = mp.format_example(validation[0], including_answer=True)
    assert "\nAnswer: Let's think step by step. Aerobic respiration" in text
    assert "A: Let's think step by step." not in text
    assert text.endswith("The answer is (C).\n\n")


def test_shots_are_reduced_while_the_prompt_is_too_long() -> None:
    test, validation, _ = load_mmlu_pro("bundled")
    q = test[0]
    count = len  # characters stand in for tokens
    full = len(mp.build_prompt(q, mp.shots_for(validation, q.category, 5)))
    three = len(mp.build_prompt(q, mp.shots_for(validation, q.category, 3)))
    prompt, k, n = mp.fit_prompt(q, validation, 5, count, max_prompt_tokens=full + 1)
    assert (k, n) == (5, full)
    prompt, k, n = mp.fit_prompt(q, validation, 5, count, max_prompt_tokens=full)  # "< budget", as TIGER: drop one
    assert k == 4
    prompt, k, n = mp.fit_prompt(q, validation, 5, count, max_prompt_tokens=three + 1)
    assert (k, n) == (3, three) and prompt == mp.build_prompt(q, mp.shots_for(validation, q.category, 3))
    with pytest.raises(BenchError, match="no shots"):
        mp.fit_prompt(q, validation, 5, count, max_prompt_tokens=10)


def test_smoke_subset_takes_categories_in_turn() -> None:
    test, _, _ = load_mmlu_pro("bundled")
    picked = mp.select_questions(test, 4)
    assert [q.category for q in picked] == ["biology", "computer science", "math", "biology"]
    assert [q.question_id for q in picked] == [70, 74, 78, 71]
    assert mp.select_questions(test, 0) == test


def test_params_reject_bad_values() -> None:
    from bench.config import parse_params
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="random_fallback must be true or false"):
        parse_params(mp.Params, {"random_fallback": "no"}, "mmlu_pro")
    with pytest.raises(ConfigError, match="dataset must be"):
        parse_params(sm.Params, {"dataset": ""}, "summarization")
    assert parse_params(mp.Params, {"num_prompts": 0, "dataset": "hf"}, "x").num_prompts == 0
