"""Alembic's environment for the results store: migrations run on the connection bench/results/store.py hands over
(`config.attributes["connection"]`), in batch mode so that SQLite's missing ALTER works the same as PostgreSQL's."""

from __future__ import annotations

from alembic import context

from bench.results.store_schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
