"""Errors a user can fix. The CLI, the entry point and the pytest options print them as one line, no traceback."""

from __future__ import annotations


class BenchError(Exception):
    """A problem with the user's input or environment, with the fix in the message."""


class ConfigError(BenchError):
    """A configuration field has a bad value. The message names the field and what is allowed."""
