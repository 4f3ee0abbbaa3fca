"""The first schema: runs, hardware, results (with the history key index).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "runs",
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
        sa.Column("tags", JSONValue, nullable=False),
        sa.Column("header", JSONValue, nullable=False),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("results_total", sa.Integer, nullable=False),
        sa.Column("results_passed", sa.Integer, nullable=False),
    )
    op.create_table(
        "hardware",
        sa.Column("hardware_id", sa.String(32), primary_key=True),
        sa.Column("fields", JSONValue, nullable=False),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(128), sa.ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
        sa.Column("benchmark", sa.String(64), nullable=False),
        sa.Column("scenario", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(128), nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("profile", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("valid", sa.Boolean, nullable=True),
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
    )
    op.create_index("ix_results_history", "results", ["history_key", "started_at"])
    op.create_index("ix_results_benchmark", "results", ["benchmark", "scenario"])


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("hardware")
    op.drop_table("runs")
