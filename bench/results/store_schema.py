"""The results store's tables (SQLAlchemy 2.x Core; one schema on SQLite and PostgreSQL): runs, hardware
fingerprints and results keyed for history. JSON columns are JSONB on PostgreSQL and JSON (text) on SQLite. The
migrations (bench/results/migrations/) create and change them; this module is what the code reads and writes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")
metadata = sa.MetaData()

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("trigger", sa.String(32), nullable=True),
    sa.Column("profile", sa.String(128), nullable=True),
    sa.Column("executor", sa.Text, nullable=True),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("git_dirty", sa.Boolean, nullable=True),
    sa.Column("harness_version", sa.String(64), nullable=True),
    sa.Column("cluster", sa.Text, nullable=True),
    sa.Column("kubernetes_version", sa.String(64), nullable=True),
    sa.Column("tags", JSONValue, nullable=False, default=dict),
    sa.Column("header", JSONValue, nullable=False, default=dict),
    sa.Column("path", sa.Text, nullable=True),
    sa.Column("results_total", sa.Integer, nullable=False, default=0),
    sa.Column("results_passed", sa.Integer, nullable=False, default=0),
)

hardware = sa.Table(
    "hardware", metadata,
    sa.Column("hardware_id", sa.String(32), primary_key=True),
    sa.Column("fields", JSONValue, nullable=False),
)

results = sa.Table(
    "results", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    sa.Column("benchmark", sa.String(64), nullable=False),
    sa.Column("scenario", sa.String(64), nullable=False),
    sa.Column("variant", sa.String(128), nullable=False, default=""),
    sa.Column("repeat", sa.Integer, nullable=False, default=0),
    sa.Column("profile", sa.String(128), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # PASS, FAIL, ERROR
    sa.Column("valid", sa.Boolean, nullable=True),  # LoadGen's VALID/INVALID, serving points; None: not applicable
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("metrics", JSONValue, nullable=False),
    sa.Column("thresholds", JSONValue, nullable=False),
    sa.Column("config", JSONValue, nullable=False),
    sa.Column("environment", JSONValue, nullable=False),
    sa.Column("notes", JSONValue, nullable=False),
    sa.Column("config_hash", sa.String(32), nullable=False),
    sa.Column("hardware_id", sa.String(32), sa.ForeignKey("hardware.hardware_id"), nullable=False),
    sa.Column("history_key", sa.String(32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.UniqueConstraint("run_id", "benchmark", "scenario", "variant", "repeat", name="uq_results_identity"),
    sa.Index("ix_results_history", "history_key", "started_at"),
    sa.Index("ix_results_benchmark", "benchmark", "scenario"),
)
