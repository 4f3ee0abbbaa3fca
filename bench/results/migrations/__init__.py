"""Alembic migrations of the results store's schema (bench/results/store.py runs them on open)."""
