"""Child process groups: how the harness stops a workload or a server together with everything it started.

Both the local executor's workload and a local vLLM server run in their own session (`start_new_session=True`), so
vLLM's engine and worker processes share the child's process group and one signal reaches all of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(proc: subprocess.Popen, grace_s: float, before_kill: Callable[[], None] | None = None) -> None:
    """SIGTERM `proc`'s whole process group, then SIGKILL what is left after `grace_s` (`before_kill` runs first,
    e.g. to remove a container whose init ignores SIGTERM)."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if sig == signal.SIGKILL and before_kill is not None:
            before_kill()
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not group_alive(proc.pid):
                return
            time.sleep(0.1)
