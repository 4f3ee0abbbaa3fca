"""Fixtures of the store's tests: run directories written the way a run writes them, and a store on each backend —
SQLite in a temporary directory and a real PostgreSQL server (tests/stores/postgres.py). Without PostgreSQL's
binaries the PostgreSQL cases skip, unless KCLOUD_REQUIRE_POSTGRES=1 (CI sets it) turns that into a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.results.rundir import RunDirectory
from bench.results.schema import Result, Threshold
from tests.stores.postgres import binaries, postgres_server

CPU_ENV = {"host": "vm", "device": "cpu", "cpu": "AMD EPYC", "cpu_count": 2, "python": "3.11.7"}
GPU_ENV = {"host": "node-1", "device": "cuda", "cpu": "Xeon", "cpu_count": 16,
           "gpu": {"name": "NVIDIA H200", "count": 1, "driver": "580.1", "memory_mib": 143771, "cuda": "13.0"}}


def result(benchmark: str = "resnet50", scenario: str = "Offline", environment: dict[str, Any] | None = None,
           error: str | None = None, **metrics: float) -> Result:
    metrics = metrics or {"samples_per_s": 100.0, "result_valid": 1.0}
    r = Result(benchmark=benchmark, scenario=scenario, profile="tiny", metrics=dict(metrics),
               thresholds={m: Threshold(">", 0.0) for m in metrics if m != "result_valid"},
               config={"profile_model": "builtin:tiny-llama", "size": "smoke", "batch_size": 8,
                       "endpoint": "http://127.0.0.1:1234"},
               environment=dict(environment or CPU_ENV), started_at="2026-12-01T10:00:00+00:00", duration_s=1.0,
               error=error)
    r.evaluate()
    return r


def write_run(root: Path, run_id: str, results: list[Result], started_at: str | None = None,
              sink: Any = None) -> RunDirectory:
    run = RunDirectory.create(root, {"profile": "tiny", "executor": "local"}, run_id=run_id, trigger="pytest",
                              sink=sink)
    if started_at:
        run.meta["started_at"] = started_at
    run.add_results(results)
    run.finish()
    return run


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("KCLOUD_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    if binaries() is None:
        if os.environ.get("KCLOUD_REQUIRE_POSTGRES") == "1":
            pytest.fail("KCLOUD_REQUIRE_POSTGRES=1 but PostgreSQL's binaries are missing: apt-get install postgresql")
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    import sqlalchemy as sa

    engine = sa.create_engine(url)  # a clean database for the next case
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS results, hardware, runs, alembic_version CASCADE"))
    engine.dispose()
