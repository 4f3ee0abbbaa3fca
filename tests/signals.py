"""Ctrl-C in tests: SIGINT must raise KeyboardInterrupt, even where the test runner started with SIGINT ignored.

A shell that starts a command in the background without job control (`cmd &` in a script, `nohup`, some CI agents)
gives it SIGINT = SIG_IGN, and Python then installs no KeyboardInterrupt handler: a test that sends itself SIGINT
sees nothing happen. `ctrl_c_raises` (a fixture) puts Python's own handler in place for the test and restores what
was there; a child driver process calls `restore_ctrl_c()` first.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


def restore_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGINT)
    restore_ctrl_c()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
