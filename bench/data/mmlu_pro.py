"""MMLU-Pro (TIGER-Lab): 12,032 test questions, 70 validation questions (5 per category, the few-shot pool).

Sources (the `dataset` parameter of the mmlu_pro workload):
- "hf": Hugging Face `TIGER-Lab/MMLU-Pro`, splits test and validation — what TIGER's evaluate_from_local.py loads.
- a local directory holding one test and one validation file (names starting with "test" and "validation",
  .parquet/.jsonl/.json, searched recursively: a `huggingface-cli download TIGER-Lab/MMLU-Pro` snapshot works as is).
- "bundled": 12 test and 15 validation questions in three categories, written by this project in the real schema.

As TIGER's `preprocess`, options equal to "N/A" are dropped from both splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.records import FILE_SUFFIXES, SAMPLES_DIR, load_hf_split, missing_fields, read_records
from bench.errors import ConfigError

HF_DATASET = "TIGER-Lab/MMLU-Pro"
FULL_TEST_SIZE = 12032
FIELDS = ("question_id", "question", "options", "answer", "answer_index", "cot_content", "category", "src")
LOCAL_HINT = (
    "offline, pass a local copy instead: dataset=/path/to/dir with test-*.parquet and validation-*.parquet "
    "(a snapshot of TIGER-Lab/MMLU-Pro) or test.jsonl and validation.jsonl"
)
NA_OPTION = "N/A"


@dataclass(frozen=True)
class Question:
    question_id: int
    question: str
    options: tuple[str, ...]
    answer: str
    answer_index: int
    cot_content: str
    category: str
    src: str


def from_record(row: dict[str, Any], index: int, where: str) -> Question:
    missing = missing_fields(row, FIELDS)
    if missing:
        raise ConfigError(
            f"{where} record {index} lacks {', '.join(missing)}; MMLU-Pro records have {', '.join(FIELDS)}"
        )
    return Question(
        question_id=int(row["question_id"]),
        question=row["question"],
        options=tuple(opt for opt in row["options"] if opt != NA_OPTION),  # TIGER preprocess()
        answer=row["answer"],
        answer_index=int(row["answer_index"]),
        cot_content=row["cot_content"] or "",
        category=row["category"],
        src=row["src"] or "",
    )


def _split_file(directory: Path, split: str) -> Path:
    found = sorted(
        p for p in directory.rglob(f"{split}*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES
    )
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise ConfigError(
            f"dataset directory {directory} has {what} {split} file(s) ({split}*.parquet/.jsonl/.json); "
            f"expected exactly one"
        )
    return found[0]


def load_mmlu_pro(source: str) -> tuple[list[Question], list[Question], str]:
    """(test questions, validation questions, a description of where they came from), in dataset order."""
    if source == "bundled":
        test_rows = read_records(SAMPLES_DIR / "mmlu_pro_test.jsonl")
        val_rows = read_records(SAMPLES_DIR / "mmlu_pro_validation.jsonl")
        where = "bundled sample mmlu_pro_{test,validation}.jsonl"
    elif source == "hf":
        test_rows = load_hf_split(HF_DATASET, None, "test", LOCAL_HINT)
        val_rows = load_hf_split(HF_DATASET, None, "validation", LOCAL_HINT)
        where = f"Hugging Face {HF_DATASET}"
    else:
        directory = Path(source).expanduser()
        if not directory.is_dir():
            raise ConfigError(f"dataset {source}: not a directory; {LOCAL_HINT}")
        test_file, val_file = _split_file(directory, "test"), _split_file(directory, "validation")
        test_rows, val_rows = read_records(test_file), read_records(val_file)
        where = f"{test_file} + {val_file}"
    test = [from_record(r, i, where) for i, r in enumerate(test_rows)]
    validation = [from_record(r, i, where) for i, r in enumerate(val_rows)]
    if not test:
        raise ConfigError(f"{where} holds no test questions")
    return test, validation, where
