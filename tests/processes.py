"""Child processes for the tests: killing one at a chosen point of its work (the kill -9
tests), and one holding a lock while the test runs (the concurrent-run tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# How long a test waits for a whole `fraud-app` child process (or `python -c` running the
# app) that must end by itself: its start, its imports (pyspark, mlflow) and its work. The
# tests' 120 s ran out at load 20+ on a shared 2-vCPU CI host (test_model_preflight.py,
# docs/PROBES.md sessions 42 and 43) while the child was still importing; a deadline only
# stops a hung child, so it is generous and shared rather than tuned per test.
CLI_DEADLINE_S = 600.0


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


@contextmanager
def held_in_child(lock: str) -> Iterator[subprocess.Popen]:
    """A child Python process that enters the context manager `lock` (an expression, its
    imports before it on the same line or lines: `from m import L; L(...)`), and holds it
    until the block ends. Yields the process once it holds the lock (pid for the messages
    that name the holder)."""
    *imports, expression = lock.split("\n")
    code = "\n".join(
        ["import sys", *imports, f"with {expression}:", "    print('held', flush=True)",
         "    sys.stdin.readline()"]
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.communicate("\n", timeout=60)
