"""Killing a real child process at a chosen point of its work (the kill -9 tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def kill_group_when(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    *,
    timeout: float = 900.0,
    poll: float = 0.05,
    wait: float = 60.0,
) -> bool:
    """Poll `ready()` while `proc` runs (at most `timeout` s: a loaded shared machine takes
    minutes to start a JVM), then SIGKILL `proc`'s process group (started with
    start_new_session=True) and reap it. True when `proc` was still running and `ready()`
    held at the kill: the point was reached, so the test tested something."""
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(poll)  # polling a child process, not synchronising threads
    reached = ready() and proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=wait)
    return reached
