"""The results store: every run and result indexed in one SQL database (SQLAlchemy 2.x) — SQLite by default
(`results/history.db`), PostgreSQL for a team (`postgresql+psycopg://USER@HOST/DB`) — for history, comparisons and
the report's trends. One URL: `--store URL`, else `KCLOUD_STORE`, else `sqlite:///<results dir>/history.db`;
`--store none` turns it off.

The run directory stays the source of truth: `record(run_dir)` upserts a run and its results from run.json and
results.json (after every group, and again by `bench results import DIR` — idempotent on run, benchmark, scenario,
variant, repeat). The schema comes from Alembic migrations (bench/results/migrations/), applied on open; a database
whose revision this code does not know is refused with the version to upgrade to. SQLite runs in WAL mode with a
busy timeout and `BEGIN IMMEDIATE` writes, so two runs writing at once both land; a SQLite file on a network
filesystem is refused (WAL needs shared memory on one host) unless KCLOUD_STORE_ALLOW_NETWORK_FS=1.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.fingerprint import config_hash, hardware, hardware_id, history_key
from bench.results.redact import json_safe, redact, redact_url
from bench.results.rundir import load_meta, load_results
from bench.results.schema import Result, Threshold

SCHEMES = ("sqlite", "postgresql+psycopg")
DISABLED = ("none", "off", "")
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "lustre", "gpfs", "ceph", "fuse.ceph",
              "glusterfs", "fuse.glusterfs", "beegfs", "afs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "ncpfs"}
MOUNTS = Path("/proc/self/mounts")
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 30_000


class StoreError(BenchError):
    """The store cannot be used: one line that names the URL (without its password) and the fix."""


def default_url(results_dir: Path) -> str:
    return f"sqlite:///{results_dir / 'history.db'}"


def choose_url(option: str | None, results_dir: Path) -> str | None:
    """`--store` over KCLOUD_STORE over the default beside the run directories; None when turned off."""
    url = option if option is not None else os.environ.get("KCLOUD_STORE", default_url(results_dir))
    return None if url.strip().lower() in DISABLED else url.strip()


def _require_sqlalchemy() -> None:
    try:
        import alembic  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        raise StoreError(f"the results store needs SQLAlchemy and Alembic ({exc.name} is missing): "
                         "pip install 'kcloud-mlperf[suite]' (or --store none)") from None


def parse_url(url: str) -> Any:
    """A SQLAlchemy URL of a supported scheme; `postgresql://` means psycopg 3 (the driver we ship)."""
    _require_sqlalchemy()
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"store URL {redact_url(url)!r} is not a database URL: use sqlite:///PATH or "
                         "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in SCHEMES:
        raise StoreError(f"store URL scheme {parsed.drivername!r} is not supported: use one of "
                         f"{', '.join(s + '://' for s in SCHEMES)} (sqlite:///results/history.db, "
                         "postgresql+psycopg://USER@HOST/DB)")
    if parsed.drivername == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StoreError("an in-memory SQLite store keeps nothing: give a file, sqlite:///results/history.db")
    return parsed


def network_filesystem(path: Path, mounts: Path | None = None) -> str | None:
    """The filesystem type when `path` (or its nearest existing parent) is on a network filesystem, else None."""
    try:
        entries = [line.split() for line in (mounts or MOUNTS).read_text().splitlines()]
    except OSError:
        return None
    target = path.resolve()
    while not target.exists() and target != target.parent:
        target = target.parent
    best: tuple[int, str] | None = None
    for entry in entries:
        if len(entry) < 3:
            continue
        point = entry[1].replace("\\040", " ")
        inside = target == Path(point) or Path(point) in target.parents
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), entry[2])
    return best[1] if best and best[1] in NETWORK_FS else None


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    started_at: datetime | None
    finished_at: datetime | None
    trigger: str | None
    profile: str | None
    executor: str | None
    git_commit: str | None
    git_dirty: bool | None
    harness_version: str | None
    path: str | None
    results_total: int
    results_passed: int
    tags: dict[str, Any]
    header: dict[str, Any]


@dataclass(frozen=True)
class StoredResult:
    run_id: str
    result: Result
    status: str
    valid: bool | None
    config_hash: str
    hardware_id: str
    history_key: str
    run_started_at: datetime | None

    @property
    def key(self) -> str:
        return self.result.key + (f"@{self.result.variant}" if self.result.variant else "")


def status_of(result: Result) -> str:
    return "ERROR" if result.error else ("PASS" if result.passed else "FAIL")


def validity(result: Result) -> bool | None:
    """LoadGen's VALID/INVALID (`result_valid`), serving's load points (`points_invalid`); None where neither."""
    if "result_valid" in result.metrics:
        return bool(result.metrics["result_valid"])
    if "points_invalid" in result.metrics:
        return result.metrics["points_invalid"] == 0
    return None


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class Store:
    """One open store. `Store.open(url)` checks, connects and migrates; every method is one transaction."""

    def __init__(self, engine: Any, url: str) -> None:
        self.engine = engine
        self.url = url  # redacted: safe to print

    # --- opening ------------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, create: bool = True) -> Store:
        """`create=False` (commands that only read): a SQLite file that does not exist yet is an error, not a new
        empty store."""
        parsed = parse_url(url)
        import sqlalchemy as sa

        shown = parsed.render_as_string(hide_password=True)
        if parsed.drivername == "sqlite":
            path = Path(parsed.database)
            fs = network_filesystem(path.parent if not path.exists() else path)
            if fs and os.environ.get("KCLOUD_STORE_ALLOW_NETWORK_FS") != "1":
                raise StoreError(f"the SQLite store {shown} is on a network filesystem ({fs}): SQLite's WAL "
                                 "does not work there and concurrent runs would corrupt it; point --store at "
                                 "PostgreSQL (postgresql+psycopg://USER@HOST/DB) or a local path "
                                 "(KCLOUD_STORE_ALLOW_NETWORK_FS=1 to use it anyway)")
            if not create and not path.exists():
                raise StoreError(f"no results store at {path} yet: every run writes it (or `bench results import "
                                 "DIR` builds it from run directories)")
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            _sqlite_pragmas(engine)
        else:
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise StoreError("a PostgreSQL store needs psycopg 3: pip install 'kcloud-mlperf[postgres]'"
                                 ) from None
            engine = sa.create_engine(parsed, connect_args={"connect_timeout": 5}, pool_pre_ping=True)
        store = cls(engine, shown)
        try:
            store._migrate()
        except StoreError:
            engine.dispose()
            raise
        except Exception as exc:  # the driver's own errors: unreachable, refused, auth
            engine.dispose()
            raise StoreError(f"the results store {shown} cannot be used: {_one_line(exc)}") from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        scripts = ScriptDirectory.from_config(config)
        head = scripts.get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        known = {rev.revision for rev in scripts.walk_revisions()}
        if current is not None and current not in known:
            raise StoreError(f"the results store {self.url} has schema revision {current}, newer than this "
                             f"kcloud-mlperf {_version()} knows (up to {head}): upgrade kcloud-mlperf to a release "
                             f"whose bench/results/migrations has revision {current}")
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # --- writing ------------------------------------------------------------------------------------------------

    def record(self, run_path: Path) -> int:
        """Upsert one run directory's run and results; the number of results written."""
        from bench.results.store_schema import hardware as hardware_table
        from bench.results.store_schema import results as results_table
        from bench.results.store_schema import runs as runs_table

        meta = load_meta(run_path)
        results = load_results(run_path) if (run_path / "results.json").is_file() else []
        header = meta.get("header") or {}
        k8s_versions = {r.environment.get("kubernetes", {}).get("version") for r in results
                        if isinstance(r.environment.get("kubernetes"), dict)} - {None}
        run_row = {
            "run_id": meta.get("run_id") or run_path.name,
            "started_at": _time(meta.get("started_at")),
            "finished_at": _time(meta.get("finished_at")),
            "trigger": meta.get("trigger"),
            "profile": header.get("profile") or next((r.profile for r in results), None),
            "executor": header.get("executor"),
            "git_commit": (meta.get("git") or {}).get("commit"),
            "git_dirty": (meta.get("git") or {}).get("dirty"),
            "harness_version": meta.get("harness_version"),
            "cluster": header.get("executor") if "kubernetes" in str(header.get("executor", "")) else None,
            "kubernetes_version": ", ".join(sorted(k8s_versions)) or None,
            "tags": meta.get("tags") or {},
            "header": json_safe(redact(header)),
            "path": str(run_path.resolve()),
            "results_total": len(results),
            "results_passed": sum(r.passed for r in results),
        }
        rows, fingerprints = [], {}
        for r in results:
            hw_id = hardware_id(r.environment)
            fingerprints[hw_id] = hardware(r.environment)
            rows.append({
                "run_id": run_row["run_id"], "benchmark": r.benchmark, "scenario": r.scenario,
                "variant": r.variant or "", "repeat": r.repeat or 0, "profile": r.profile, "status": status_of(r),
                "valid": validity(r), "error": r.error, "metrics": json_safe(r.metrics),
                "thresholds": {k: {"op": t.op, "value": t.value} for k, t in r.thresholds.items()},
                "config": json_safe(redact(r.config)), "environment": json_safe(redact(r.environment)),
                "notes": list(r.notes), "config_hash": config_hash(r), "hardware_id": hw_id,
                "history_key": history_key(r), "started_at": _time(r.started_at), "duration_s": r.duration_s,
            })
        with self.engine.begin() as conn:
            insert = self._insert()
            run_update = {k: v for k, v in run_row.items() if k != "run_id"}
            conn.execute(insert(runs_table).values(run_row).on_conflict_do_update(
                index_elements=["run_id"], set_=run_update))
            for hw_id, fields in fingerprints.items():
                conn.execute(insert(hardware_table).values(hardware_id=hw_id, fields=fields)
                             .on_conflict_do_nothing(index_elements=["hardware_id"]))
            keys = ("run_id", "benchmark", "scenario", "variant", "repeat")
            for row in rows:
                conn.execute(insert(results_table).values(row).on_conflict_do_update(
                    index_elements=list(keys), set_={k: v for k, v in row.items() if k not in keys}))
            kept = {(row["benchmark"], row["scenario"], row["variant"], row["repeat"]) for row in rows}
            stale = [r for r in conn.execute(results_table.select().where(
                results_table.c.run_id == run_row["run_id"])).mappings()
                if (r["benchmark"], r["scenario"], r["variant"], r["repeat"]) not in kept]
            for r in stale:  # a result the run directory no longer holds (it was rerun under another key)
                conn.execute(results_table.delete().where(results_table.c.id == r["id"]))
        return len(rows)

    def _insert(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert

    # --- reading ------------------------------------------------------------------------------------------------

    def runs(self, benchmark: str | None = None, since: datetime | None = None, trigger: str | None = None,
             limit: int | None = None) -> list[StoredRun]:
        """Runs, oldest first."""
        import sqlalchemy as sa

        from bench.results.store_schema import results as results_table
        from bench.results.store_schema import runs as runs_table

        query = sa.select(runs_table)
        if benchmark:
            query = query.where(runs_table.c.run_id.in_(
                sa.select(results_table.c.run_id).where(results_table.c.benchmark == benchmark)))
        if since is not None:
            query = query.where(runs_table.c.started_at >= since)
        if trigger:
            query = query.where(runs_table.c.trigger == trigger)
        query = query.order_by(runs_table.c.started_at.desc(), runs_table.c.run_id.desc())
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
        return [StoredRun(
            run_id=r["run_id"], started_at=_aware(r["started_at"]), finished_at=_aware(r["finished_at"]),
            trigger=r["trigger"], profile=r["profile"], executor=r["executor"], git_commit=r["git_commit"],
            git_dirty=r["git_dirty"], harness_version=r["harness_version"], path=r["path"],
            results_total=r["results_total"], results_passed=r["results_passed"], tags=r["tags"] or {},
            header=r["header"] or {}) for r in reversed(rows)]

    def resolve(self, spec: str) -> str:
        """A run id from `latest`, `latest~N` (N runs before the latest), an id or a unique prefix of one."""
        ids = [run.run_id for run in self.runs()]
        if not ids:
            raise StoreError(f"the results store {self.url} holds no runs: run the suite, or "
                             "`bench results import results/` to index run directories")
        match = re.fullmatch(r"latest(?:~(\d+))?", spec)
        if match:
            back = int(match.group(1) or 0)
            if back >= len(ids):
                raise StoreError(f"{spec}: the store holds only {len(ids)} run(s) (latest~{len(ids) - 1} is the "
                                 "oldest)")
            return ids[-1 - back]
        if spec in ids:
            return spec
        prefixed = [i for i in ids if i.startswith(spec)]
        if len(prefixed) == 1:
            return prefixed[0]
        near = prefixed or difflib.get_close_matches(spec, ids, n=3, cutoff=0.5) or ids[-3:]
        raise StoreError(f"no run {spec!r} in the results store {self.url}"
                         + (" (ambiguous prefix)" if len(prefixed) > 1 else "")
                         + f"; nearest: {', '.join(near)} (`bench results list` shows them all)")

    def run(self, run_id: str) -> StoredRun:
        found = [r for r in self.runs() if r.run_id == run_id]
        if not found:
            self.resolve(run_id)  # raises with the nearest ids
        return found[0]

    def results(self, run_id: str | None = None, history_key: str | None = None, benchmark: str | None = None,
                scenario: str | None = None) -> list[StoredResult]:
        """Results (of a run, of one history key, of a benchmark × scenario), oldest run first."""
        import sqlalchemy as sa

        from bench.results.store_schema import results as results_table
        from bench.results.store_schema import runs as runs_table

        query = sa.select(results_table, runs_table.c.started_at.label("run_started_at")).join(
            runs_table, runs_table.c.run_id == results_table.c.run_id)
        for column, value in (("run_id", run_id), ("history_key", history_key), ("benchmark", benchmark),
                              ("scenario", scenario)):
            if value is not None:
                query = query.where(results_table.c[column] == value)
        query = query.order_by(runs_table.c.started_at, results_table.c.run_id, results_table.c.id)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query).mappings())
        return [_stored(r) for r in rows]

    def history(self, key: str, metric: str, before: str | None = None, limit: int | None = None
                ) -> list[dict[str, Any]]:
        """The values of `metric` over time for one history key: [{run_id, started_at, value, valid}] oldest first;
        `before`: only runs before this one (and not it); `limit`: the last N."""
        points = self.series(key, [metric], before)[metric]
        return points[-limit:] if limit else points

    def series(self, key: str, metrics: Sequence[str], before: str | None = None
               ) -> dict[str, list[dict[str, Any]]]:
        """`history` of several metrics of one key, read in one query."""
        out: dict[str, list[dict[str, Any]]] = {m: [] for m in metrics}
        for stored in self.results(history_key=key):
            if before is not None and stored.run_id == before:
                break
            if stored.result.variant:
                continue
            started = stored.run_started_at or _time(stored.result.started_at)
            for metric in metrics:
                value = stored.result.metrics.get(metric)
                if value is not None:
                    out[metric].append({"run_id": stored.run_id,
                                        "started_at": started.isoformat() if started else None,
                                        "value": float(value),
                                        "valid": stored.status != "ERROR" and stored.valid is not False})
        return out

    def counts(self) -> dict[str, int]:
        import sqlalchemy as sa

        from bench.results.store_schema import hardware as hardware_table
        from bench.results.store_schema import results as results_table
        from bench.results.store_schema import runs as runs_table

        with self.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in (runs_table, results_table, hardware_table)}


def _stored(row: Any) -> StoredResult:
    result = Result(
        benchmark=row["benchmark"], scenario=row["scenario"], profile=row["profile"] or "",
        metrics={k: (math.nan if v is None else v) for k, v in (row["metrics"] or {}).items()},
        thresholds={k: Threshold(**v) for k, v in (row["thresholds"] or {}).items()},
        passed=row["status"] == "PASS", config=row["config"] or {},
        environment=row["environment"] or {},
        started_at=row["started_at"].isoformat() if row["started_at"] else "", duration_s=row["duration_s"] or 0.0,
        error=row["error"], notes=list(row["notes"] or []), variant=row["variant"] or None,
        repeat=row["repeat"] or None)
    return StoredResult(row["run_id"], result, row["status"], row["valid"], row["config_hash"], row["hardware_id"],
                        row["history_key"], _aware(row["run_started_at"]))


def _sqlite_pragmas(engine: Any) -> None:
    """WAL (readers beside one writer), a busy timeout (a second writer waits instead of failing), foreign keys, and
    pysqlite's own transaction handling replaced by `BEGIN IMMEDIATE` (a writer takes the lock up front, so two
    writers never deadlock on a read-to-write upgrade) — SQLAlchemy's recipe for pysqlite."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return redact_url(text[0] if text else type(exc).__name__)


def _version() -> str:
    from bench.results.provenance import harness_version

    return harness_version()


class StoreSink:
    """What a run directory tells after every save: index the run in the store. A store that cannot be reached
    never costs the run: the first failure prints one line (the run directory keeps everything; `bench results
    import` fills the store in later) and the sink stays quiet for the rest of the run."""

    def __init__(self, url: str, echo: Any = print) -> None:
        self.url = url
        self.echo = echo
        self.store: Store | None = None
        self.failed: str | None = None

    @property
    def shown(self) -> str:
        return redact_url(self.url)

    def __call__(self, run_dir: Any) -> None:
        if self.failed is not None:
            return
        try:
            if self.store is None:
                self.store = Store.open(self.url)
            self.store.record(run_dir.path)
        except Exception as exc:  # never lose the run over the index
            self.failed = str(exc) if isinstance(exc, BenchError) else _one_line(exc)
            self.echo(f"[store] warning: run {run_dir.path.name} not written to {self.shown}: {self.failed} — the run "
                      f"directory keeps everything; `bench results import {run_dir.path}` fills the store in later")

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def import_runs(store: Store, paths: Sequence[Path], echo: Any = print) -> int:
    """Index run directories (a run directory, or a results root holding several); the number of runs imported."""
    count = 0
    for given in paths:
        if (given / "results.json").is_file():
            candidates = [given]
        elif given.is_dir():
            candidates = sorted(p for p in given.iterdir()
                                if p.is_dir() and not p.is_symlink() and (p / "results.json").is_file())
        else:
            raise StoreError(f"{given} is neither a run directory (with results.json) nor a results directory")
        for path in candidates:
            try:
                written = store.record(path)
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
                echo(f"skipped {path}: not a run directory of this version ({exc})")
                continue
            echo(f"imported {path.name}: {written} result(s)")
            count += 1
    return count
