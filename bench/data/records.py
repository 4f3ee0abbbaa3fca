"""Reading dataset records: local files (JSON list, JSON Lines, Parquet), bundled samples, Hugging Face `datasets`.

Every loader offers the same three sources, named by one string: "bundled" (small samples shipped in
bench/data/samples, written by this project in the real schemas), "hf" (the Hub, through `datasets`), or a local
path. Offline, "hf" fails with a message that names the local-file option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import BenchError, ConfigError

SAMPLES_DIR = Path(__file__).parent / "samples"
FILE_SUFFIXES = (".json", ".jsonl", ".parquet")


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a .json (a list of objects), .jsonl (one object a line) or .parquet file."""
    if not path.is_file():
        raise ConfigError(f"dataset file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
        elif suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(rows, dict):  # {"data": [...]} or {"rows": [...]}
                rows = next((v for v in rows.values() if isinstance(v, list)), rows)
        elif suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise BenchError(f"reading {path} needs pyarrow: pip install pyarrow (or use .json/.jsonl)") from None
            rows = pq.read_table(path).to_pylist()
        else:
            raise ConfigError(f"dataset file {path}: unsupported type; use one of {', '.join(FILE_SUFFIXES)}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"dataset file {path} is not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ConfigError(f"dataset file {path} must hold a list of objects (records)")
    return rows


def load_hf_split(name: str, config: str | None, split: str, local_hint: str) -> list[dict[str, Any]]:
    """One split from the Hub (or the `datasets` cache). Unreachable → BenchError naming the local-file option."""
    try:
        import datasets
    except ImportError:
        raise BenchError(
            f"loading {name} from Hugging Face needs the `datasets` package (pip install datasets); {local_hint}"
        ) from None
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # ConnectionError, LocalEntryNotFoundError, DatasetNotFoundError, ... all mean "not here"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"cannot load {name} ({split}) from Hugging Face: {reason[:200]}; {local_hint}") from None
    return [dict(row) for row in ds]


def missing_fields(row: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    return [f for f in fields if f not in row]
