"""The results store on SQLite and on a real PostgreSQL server: import and upsert, writes after every group, history
keys, concurrent SQLite writers, the network-filesystem refusal, a store that cannot be reached, a schema newer
than the code, and the `bench results` / `bench compare` commands over it."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from bench.cli import main
from bench.results.fingerprint import history_key
from bench.results.store import Store, StoreError, StoreSink, import_runs, network_filesystem
from tests.stores.conftest import GPU_ENV, result, write_run


def test_import_is_idempotent_and_an_upsert(store_url: str, tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_run(root, "run-a", [result(), result(scenario="Server", samples_per_s=50.0, latency_p99_ms=9.0)])
    store = Store.open(store_url)
    assert import_runs(store, [root]) == 1
    assert import_runs(store, [root / "run-a"]) == 1
    assert store.counts() == {"runs": 1, "results": 2, "hardware": 1}
    data = json.loads((root / "run-a" / "results.json").read_text())
    data[0]["metrics"]["samples_per_s"] = 123.0
    data = data[:1]  # the Server result is gone from the directory: gone from the store too
    (root / "run-a" / "results.json").write_text(json.dumps(data))
    store.record(root / "run-a")
    stored = store.results("run-a")
    assert [(s.key, s.result.metrics["samples_per_s"]) for s in stored] == [("resnet50/Offline", 123.0)]
    run = store.run("run-a")
    assert run.trigger == "pytest" and run.finished_at is not None and run.results_total == 1
    store.close()


def test_the_store_is_written_as_each_group_ends(store_url: str, tmp_path: Path) -> None:
    from bench.results.rundir import RunDirectory

    sink = StoreSink(store_url)
    run = RunDirectory.create(tmp_path, {"profile": "tiny"}, run_id="run-g", sink=sink)
    run.add_results([result()])
    store = Store.open(store_url)
    assert [s.key for s in store.results("run-g")] == ["resnet50/Offline"]
    run.add_results([result(scenario="Server")])
    assert len(store.results("run-g")) == 2
    assert sink.failed is None
    store.close()
    sink.close()


def test_history_keys_set_like_beside_like() -> None:
    a, b = result(), result(samples_per_s=90.0)
    assert history_key(a) == history_key(b)  # another value, another port: the same measurement
    b.config["endpoint"] = "http://127.0.0.1:9999"
    assert history_key(a) == history_key(b)
    assert history_key(a) != history_key(result(environment=GPU_ENV))
    bigger = result()
    bigger.config["batch_size"] = 64
    assert history_key(a) != history_key(bigger)


def test_history_follows_one_key_over_time(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    root = tmp_path / "results"
    for i, value in enumerate([100.0, 102.0, 98.0, 101.0]):
        write_run(root, f"run-{i}", [result(samples_per_s=value, result_valid=1.0)],
                  started_at=f"2026-12-0{i + 1}T10:00:00+00:00")
    write_run(root, "run-gpu", [result(environment=GPU_ENV, samples_per_s=30000.0, result_valid=1.0)],
              started_at="2026-11-01T10:00:00+00:00")
    store = Store.open(store_url)
    import_runs(store, [root])
    points = store.history(history_key(result()), "samples_per_s")
    assert [p["value"] for p in points] == [100.0, 102.0, 98.0, 101.0]
    store.close()
    assert main(["results", "history", "resnet50", "Offline", "samples_per_s", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "run-3" in out and "101" in out and "+1.0%" in out  # the band: median(100, 102, 98) = 100
    assert "other history keys" in out  # the GPU run is another key


def _writer(url: str, root: str, prefix: str) -> None:
    store = Store.open(url)
    for i in range(15):
        store.record(write_run(Path(root), f"{prefix}-{i}", [result()]).path)
    store.close()


def test_two_sqlite_writers_at_once_both_land(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    Store.open(url).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, str(tmp_path / "results"), p)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    store = Store.open(url)
    assert store.counts()["runs"] == 30
    assert store.engine.dialect.name == "sqlite"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_a_sqlite_file_on_a_network_filesystem_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda1 / ext4 rw 0 0\nserver:/export {tmp_path} nfs4 rw 0 0\n")
    assert network_filesystem(tmp_path / "results" / "history.db", mounts) == "nfs4"
    assert network_filesystem(Path("/usr/lib"), mounts) is None
    monkeypatch.setattr("bench.results.store.MOUNTS", mounts)
    with pytest.raises(StoreError, match=r"network filesystem \(nfs4\).*PostgreSQL"):
        Store.open(f"sqlite:///{tmp_path / 'history.db'}")
    monkeypatch.setenv("KCLOUD_STORE_ALLOW_NETWORK_FS", "1")
    Store.open(f"sqlite:///{tmp_path / 'history.db'}").close()


def test_a_store_that_cannot_be_reached_never_loses_the_run(tmp_path: Path, store_url: str) -> None:
    lines: list[str] = []
    down = "postgresql+psycopg://bench:hunter2@127.0.0.1:1/bench"
    sink = StoreSink(down, lines.append)
    run = write_run(tmp_path / "results", "run-down", [result()], sink=sink)
    assert (run.path / "results.json").is_file() and len(json.loads((run.path / "results.json").read_text())) == 1
    assert len(lines) == 1 and "not written" in lines[0] and "bench results import" in lines[0]
    assert "hunter2" not in lines[0] and "***" in lines[0]
    store = Store.open(store_url)  # later: import fills it in
    import_runs(store, [run.path])
    assert [s.run_id for s in store.results()] == ["run-down"]
    store.close()


def test_a_schema_newer_than_the_code_is_refused(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(store_url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    store.close()
    assert main(["results", "list", "--store", store_url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "revision 0099, newer than" in err and "upgrade kcloud-mlperf" in err


@pytest.mark.parametrize(("url", "expected"), [
    ("mysql://u@h/db", "scheme 'mysql' is not supported: use one of sqlite://, postgresql+psycopg://"),
    ("sqlite://", "in-memory"),
    ("not a url", "not a database URL"),
])
def test_bad_store_urls_are_one_line(url: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "list", "--store", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err


def test_an_unknown_run_lists_the_nearest(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    root = tmp_path / "results"
    write_run(root, "20261201-100000-abcd", [result()])
    store = Store.open(store_url)
    import_runs(store, [root])
    store.close()
    assert main(["results", "show", "20261201-100000-abce", "--store", store_url, "--results-dir", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nearest: 20261201-100000-abcd" in err


def _two_runs(root: Path, store_url: str, candidate_value: float) -> None:
    write_run(root, "run-1", [result(samples_per_s=100.0, result_valid=1.0),
                              result("llm_throughput", "single", latency_p99_ms=10.0, output_tokens_per_s=50.0)],
              started_at="2026-12-01T10:00:00+00:00")
    write_run(root, "run-2", [result(samples_per_s=candidate_value, result_valid=1.0),
                              result("llm_throughput", "single", latency_p99_ms=12.0, output_tokens_per_s=50.5)],
              started_at="2026-12-02T10:00:00+00:00")
    store = Store.open(store_url)
    import_runs(store, [root])
    store.close()


def test_compare_latest_against_the_one_before(store_url: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "results"
    _two_runs(root, store_url, candidate_value=101.0)
    args = ["compare", "latest~1", "latest", "--store", store_url, "--results-dir", str(tmp_path / "elsewhere")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "baseline: run-1" in out and "candidate: run-2" in out
    lines = out.splitlines()
    assert any(line.startswith("resnet50") and "samples_per_s" in line and "+1.0%" in line and "unchanged" in line
               for line in lines)
    assert any("latency_p99_ms" in line and "+20.0%" in line and "regressed" in line for line in lines)  # worse
    assert main([*args, "--fail-on-regression"]) == 1
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {r["verdict"] for r in rows} == {"unchanged", "regressed"}
    assert main([*args, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("benchmark,scenario,metric,baseline,candidate")
    assert main([*args, "--format", "markdown"]) == 0
    assert "| benchmark | scenario |" in capsys.readouterr().out


def test_an_injected_regression_fails_with_fail_on_regression(store_url: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "results"
    _two_runs(root, store_url, candidate_value=80.0)  # throughput −20%
    assert main(["compare", "run-1", "run-2", "--store", store_url, "--results-dir", str(root),
                 "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "-20.0%" in out and "resnet50/Offline samples_per_s" in out.splitlines()[-1]


def test_results_of_other_hardware_are_not_comparable(store_url: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "results"
    write_run(root, "cpu", [result()])
    write_run(root, "gpu", [result(environment=GPU_ENV)])
    assert main(["compare", "cpu", "gpu", "--results-dir", str(root), "--store", store_url]) == 2
    err = capsys.readouterr().err
    assert "not comparable: device differs (A: cpu, B: cuda)" in err


def test_invalid_and_errored_results_are_shown_as_such(tmp_path: Path, store_url: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "results"
    write_run(root, "a", [result(), result("llm_throughput", "offline", output_tokens_per_s=10.0)])
    write_run(root, "b", [result(samples_per_s=100.0, result_valid=0.0),
                          result("llm_throughput", "offline", error="engine died", output_tokens_per_s=0.0)])
    assert main(["compare", "a", "b", "--results-dir", str(root), "--store", store_url, "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "ERROR (candidate: engine died)" in out


def test_compare_against_history(store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "results"
    for i, value in enumerate([100.0, 104.0, 96.0, 80.0]):
        write_run(root, f"run-{i}", [result(samples_per_s=value, result_valid=1.0)],
                  started_at=f"2026-12-0{i + 1}T10:00:00+00:00")
    store = Store.open(store_url)
    import_runs(store, [root])
    store.close()
    assert main(["compare", "--baseline", "history", "latest", "--store", store_url, "--results-dir", str(root),
                 "--fail-on-regression"]) == 1
    out = capsys.readouterr().out
    assert "baseline: history (median of the last 5 runs" in out and "-20.0%" in out and "regressed" in out
