"""One background thread that makes a training run's MLflow calls, in submission order.

Training submits what it wants recorded and carries on; the thread talks to the tracking
store meanwhile (MLflow's fluent API keeps the active run per thread, so every call of
a run, from `start_run` to `end_run`, runs on this one thread). `flush(deadline)` waits
for everything submitted; a call that fails makes the next `submit`, `call` or `flush`
raise TrackingError, and the calls after it are skipped, except those submitted with
`always=True` (ending the run). `seconds` holds the wall time of each kind of call and
`cpu_seconds` the CPU time the thread itself spent on it (Spark jobs a call starts run
elsewhere and are not in it).

On Linux the thread lowers its own CPU priority to `nice` (19, the lowest, by default):
training's processes (Spark's JVM and Python workers, the driver's other threads) keep
the CPU when the machine is busy and tracking takes what is left. The value is per
thread (a Linux thread has its own nice value); elsewhere it is left as it is. While
training WAITS for the thread (`call`, `flush`, a result), nothing of training runs, so
the thread is raised to the waiter's priority for that wait (priority inheritance) and
lowered again after it; where the OS does not let a process raise a thread's priority
back (an unprivileged user, RLIMIT_NICE), it stays low.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

from fraud_app.errors import TrackingError

logger = logging.getLogger(__name__)
_STOP = object()


def lower_priority(nice: int) -> int | None:
    """Set the CALLING thread's nice value to `nice` (Linux); its nice value, None elsewhere."""
    if not sys.platform.startswith("linux") or nice <= 0:
        return None
    tid = threading.get_native_id()  # on Linux, PRIO_PROCESS with a thread id: that thread
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError as exc:  # e.g. a seccomp profile that forbids it: run at normal priority
        logger.debug("tracking thread: cannot set nice %d: %s", nice, exc)
        return None


def _set_nice(tid: int, nice: int) -> bool:
    try:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True
    except OSError:  # not allowed to raise it (EACCES/EPERM), or the thread has ended
        return False


class Worker:
    def __init__(self, name: str = "mlflow-tracking", *, nice: int = 19) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._failure: tuple[str, BaseException] | None = None
        self._reported = False
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self.nice: int | None = None  # the thread's nice value once it runs (None: not Linux)
        self._nice = nice
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        self.nice = lower_priority(self._nice)
        while (item := self._queue.get()) is not _STOP:
            label, fn, args, kwargs, future, always = item
            if not future.set_running_or_notify_cancel():
                continue
            if self._failure is not None and not always:
                future.set_exception(TrackingError(f"tracking: {label} skipped after a failure"))
                continue
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # surfaced to the training thread, never lost
                if self._failure is None:
                    self._failure = (label, exc)
                future.set_exception(exc)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.cpu_seconds[label] += time.thread_time() - c0

    @contextmanager
    def waited_on(self):
        """While the calling thread waits for this one: this one at the caller's priority."""
        tid, low = self._thread.native_id, self.nice
        if low is None or tid is None or tid == threading.get_native_id():
            yield
            return
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        raised = mine < low and _set_nice(tid, mine)
        try:
            yield
        finally:
            if raised:
                _set_nice(tid, low)

    @property
    def failed(self) -> bool:
        return self._failure is not None

    @property
    def failure(self) -> tuple[str, BaseException] | None:
        """(label, error) of the first call that failed; None: none did."""
        return self._failure

    def raise_if_failed(self) -> None:
        """TrackingError for the first failed call (once; later calls only skip)."""
        if self._failure is None or self._reported:
            return
        self._reported = True
        label, exc = self._failure
        raise TrackingError(f"tracking: {label} failed: {exc}") from exc

    def submit(self, label: str, fn, *args, always: bool = False, **kwargs) -> Future:
        if not always:
            self.raise_if_failed()
        future: Future = Future()
        self._queue.put((label, fn, args, kwargs, future, always))
        return future

    def call(self, label: str, fn, *args, timeout_s: float, **kwargs) -> Any:
        """Run `fn` on the thread after everything submitted before; wait for its result."""
        return wait(self.submit(label, fn, *args, **kwargs), label, timeout_s, self)

    def flush(self, timeout_s: float) -> None:
        """Wait until every call submitted so far has run; raise if one failed."""
        wait(self.submit("flush", lambda: None, always=True), "flush", timeout_s, self)
        self.raise_if_failed()

    def close(self) -> None:
        self._queue.put(_STOP)


def wait(future: Future, label: str, timeout_s: float, worker: Worker) -> Any:
    try:
        with worker.waited_on():
            return future.result(timeout=timeout_s)
    except FutureTimeout:
        raise TrackingError(
            f"tracking: {label} did not finish within {timeout_s:g}s (tracking.flush_timeout_s); "
            "the tracking store is slow or unreachable, or set tracking.enabled: false"
        ) from None
    except Exception as exc:
        worker.raise_if_failed()  # names the first call that failed
        if isinstance(exc, TrackingError):
            raise
        raise TrackingError(f"tracking: {label} failed: {exc}") from exc
