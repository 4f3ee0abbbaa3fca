"""CNN/DailyMail 3.0.0 validation — the data of MLPerf Inference llama3.1-8b summarization.

Sources (the `dataset` parameter of the summarization workload):
- "hf": Hugging Face `abisee/cnn_dailymail` config 3.0.0, split validation, 13,368 articles — what MLPerf's
  `download_cnndm.py` loads (as `cnn_dailymail`, the same dataset's old name).
- a local file: MLPerf's `cnn_eval.json` (a JSON list of {"input", "output", "tok_input", ...}), or the HF layout
  (`article`, `highlights`, `id`) as .json/.jsonl/.parquet (e.g. the Hub's `3.0.0/validation-*.parquet`).
- "bundled": 12 short articles written by this project in the HF schema (bench/data/samples).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.records import SAMPLES_DIR, load_hf_split, missing_fields, read_records
from bench.errors import ConfigError

HF_DATASET = "abisee/cnn_dailymail"
HF_CONFIG = "3.0.0"
HF_SPLIT = "validation"
FULL_SIZE = 13368
BUNDLED_FILE = SAMPLES_DIR / "cnn_dailymail_validation.jsonl"
LOCAL_HINT = (
    "offline, pass a local copy instead: dataset=/path/to/cnn_eval.json (MLPerf's file from download_cnndm.py) or "
    "a .jsonl/.parquet with article/highlights/id"
)


@dataclass(frozen=True)
class Article:
    id: str
    article: str
    highlights: str  # the reference summary
    tok_input: tuple[int, ...] | None = None  # MLPerf's pre-tokenized prompt, when the file has it


def from_record(row: dict[str, Any], index: int, where: str) -> Article:
    if "input" in row and "output" in row:  # MLPerf cnn_eval.json
        tok = row.get("tok_input")
        return Article(str(row.get("id", index)), row["input"], row["output"], tuple(tok) if tok else None)
    missing = missing_fields(row, ("article", "highlights"))
    if missing:
        raise ConfigError(
            f"{where} record {index} lacks {', '.join(missing)}: expected MLPerf's cnn_eval.json layout "
            f"(input, output) or the Hugging Face one (article, highlights, id)"
        )
    return Article(str(row.get("id", index)), row["article"], row["highlights"])


def load_articles(source: str) -> tuple[list[Article], str]:
    """(articles in dataset order, a description of where they came from)."""
    if source == "bundled":
        rows, where = read_records(BUNDLED_FILE), f"bundled sample {BUNDLED_FILE.name}"
    elif source == "hf":
        rows = load_hf_split(HF_DATASET, HF_CONFIG, HF_SPLIT, LOCAL_HINT)
        where = f"Hugging Face {HF_DATASET} {HF_CONFIG} {HF_SPLIT}"
    else:
        path = Path(source).expanduser()
        rows, where = read_records(path), str(path)
    articles = [from_record(row, i, where) for i, row in enumerate(rows)]
    if not articles:
        raise ConfigError(f"{where} holds no articles")
    return articles, where
