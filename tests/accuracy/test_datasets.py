"""Loaders on the bundled samples, on local files in each reference layout, and offline Hugging Face access."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.data import cnn_dailymail, mmlu_pro
from bench.data.records import SAMPLES_DIR
from bench.errors import BenchError, ConfigError

MMLU_FIELDS = {"question_id", "question", "options", "answer", "answer_index", "cot_content", "category", "src"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bundled_cnn_sample_has_the_hf_schema() -> None:
    rows = _jsonl(SAMPLES_DIR / "cnn_dailymail_validation.jsonl")
    assert len(rows) >= 10
    assert all(set(r) == {"article", "highlights", "id"} for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    articles, where = cnn_dailymail.load_articles("bundled")
    assert [a.id for a in articles] == [r["id"] for r in rows]
    assert "bundled" in where


def test_bundled_mmlu_pro_sample_has_the_real_schema_and_shots_for_every_category() -> None:
    test = _jsonl(SAMPLES_DIR / "mmlu_pro_test.jsonl")
    val = _jsonl(SAMPLES_DIR / "mmlu_pro_validation.jsonl")
    assert len(test) >= 10
    for row in test + val:
        assert set(row) == MMLU_FIELDS
        assert row["answer"] == "ABCDEFGHIJ"[row["answer_index"]]
        assert 1 <= len(row["options"]) <= 10
    for category in {r["category"] for r in test}:
        shots = [r for r in val if r["category"] == category]
        assert len(shots) >= 5, category
        assert all(s["cot_content"].startswith("A: Let's think step by step.") for s in shots)


def test_mmlu_pro_loader_drops_na_options_like_tiger() -> None:
    test, validation, _ = mmlu_pro.load_mmlu_pro("bundled")
    padded = next(q for q in test if q.question_id == 71)
    assert padded.options == ("Oxygen", "Nitrogen", "Carbon dioxide", "Hydrogen", "Methane", "Argon")
    assert all("N/A" not in q.options for q in test + validation)


def test_cnn_local_file_in_mlperf_cnn_eval_layout(tmp_path: Path) -> None:
    path = tmp_path / "cnn_eval.json"
    path.write_text(json.dumps([
        {"instruction": {"llama": "…{input}…"}, "input": "Article one.", "tok_input": [1, 2, 3], "output": "Ref one."},
        {"instruction": {"llama": "…{input}…"}, "input": "Article two.", "tok_input": [4, 5], "output": "Ref two."},
    ]))
    articles, where = cnn_dailymail.load_articles(str(path))
    assert [(a.id, a.article, a.highlights, a.tok_input) for a in articles] == [
        ("0", "Article one.", "Ref one.", (1, 2, 3)), ("1", "Article two.", "Ref two.", (4, 5))]
    assert where == str(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_cnn_local_file_in_hf_layout(tmp_path: Path, suffix: str) -> None:
    rows = _jsonl(SAMPLES_DIR / "cnn_dailymail_validation.jsonl")[:3]
    path = tmp_path / f"validation{suffix}"
    _write(path, rows)
    articles, _ = cnn_dailymail.load_articles(str(path))
    expected = [(r["id"], r["article"], r["highlights"]) for r in rows]
    assert [(a.id, a.article, a.highlights) for a in articles] == expected


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_mmlu_pro_local_directory_in_hf_snapshot_layout(tmp_path: Path, suffix: str) -> None:
    data = tmp_path / "MMLU-Pro" / "data"
    data.mkdir(parents=True)
    _write(data / f"test-00000-of-00001{suffix}", _jsonl(SAMPLES_DIR / "mmlu_pro_test.jsonl"))
    _write(data / f"validation-00000-of-00001{suffix}", _jsonl(SAMPLES_DIR / "mmlu_pro_validation.jsonl"))
    test, validation, _ = mmlu_pro.load_mmlu_pro(str(tmp_path / "MMLU-Pro"))
    bundled_test, bundled_val, _ = mmlu_pro.load_mmlu_pro("bundled")
    assert (test, validation) == (bundled_test, bundled_val)


def test_mmlu_pro_directory_without_validation_file_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "test.jsonl", _jsonl(SAMPLES_DIR / "mmlu_pro_test.jsonl"))
    with pytest.raises(ConfigError, match="no validation file"):
        mmlu_pro.load_mmlu_pro(str(tmp_path))


def test_wrong_layout_names_the_expected_fields(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "no article here"}\n')
    with pytest.raises(ConfigError, match=r"cnn_eval\.json layout"):
        cnn_dailymail.load_articles(str(path))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        cnn_dailymail.load_articles(str(tmp_path / "nope.json"))


@pytest.mark.parametrize(
    ("module", "call"),
    [("cnn_dailymail", "load_articles('hf')"), ("mmlu_pro", "load_mmlu_pro('hf')")],
)
def test_hugging_face_unreachable_names_the_local_file_option(module: str, call: str, tmp_path: Path) -> None:
    # A real `datasets` call with the Hub switched off and an empty cache: what an air-gapped node sees, minus the
    # network retries.
    code = (
        f"from bench.data.{module} import *\nfrom bench.errors import BenchError\n"
        f"try:\n    {call}\nexcept BenchError as e:\n    print(e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    message = out.stdout.strip().splitlines()[-1]
    assert message.startswith("cannot load ")
    assert "offline, pass a local copy instead: dataset=" in message


def test_hf_without_datasets_package_names_the_local_file_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets → ImportError
    with pytest.raises(BenchError, match=r"needs the `datasets` package.*local copy"):
        cnn_dailymail.load_articles("hf")


def _write(path: Path, rows: list[dict]) -> None:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
