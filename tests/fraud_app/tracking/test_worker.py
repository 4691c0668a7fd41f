"""The tracking thread (order, failures, deadline) and the file digest of a local table."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraud_app.errors import TrackingError
from fraud_app.tracking.lineage import file_digest
from fraud_app.tracking.worker import Worker

LINUX = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="a per-thread nice value is Linux's"
)


def _my_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_calls_run_in_order_on_one_thread_and_return_results():
    w = Worker()
    seen: list[tuple[int, str]] = []
    for i in range(20):
        w.submit("item", lambda i=i: seen.append((i, threading.current_thread().name)))
    assert w.call("last", lambda: len(seen), timeout_s=10) == 20
    assert [i for i, _ in seen] == list(range(20))
    assert {name for _, name in seen} == {"mlflow-tracking"} != {threading.current_thread().name}
    w.flush(10)
    assert w.seconds["item"] >= 0 and "last" in w.seconds
    w.close()


def test_a_failure_surfaces_once_skips_the_rest_but_not_always_calls():
    w = Worker()
    ran: list[str] = []
    w.submit("broken", lambda: 1 / 0)
    later = w.submit("later", lambda: ran.append("later"))
    w.submit("end_run", lambda: ran.append("end"), always=True)
    with pytest.raises(TrackingError, match=r"broken failed: division by zero"):
        w.flush(10)
    assert ran == ["end"]
    with pytest.raises(TrackingError, match="skipped after a failure"):
        later.result(1)
    w.close()


def test_a_call_past_its_deadline_is_a_clear_error_not_a_hang():
    w = Worker()
    gate = threading.Event()
    w.submit("slow store", gate.wait, 30)
    with pytest.raises(TrackingError, match=r"flush did not finish within 0.2s.*flush_timeout_s"):
        w.flush(0.2)
    gate.set()
    w.flush(10)
    w.close()


def _unwaited(w: Worker, fn, timeout_s: float = 30):
    """fn's result on the thread, polled (not waited for: no priority inheritance)."""
    future = w.submit("probe", fn)
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return future.result(0)


def _can_raise_priority() -> bool:
    out = []

    def probe():
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, 19)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, 0)
            out.append(True)
        except OSError:
            out.append(False)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return out[0]


@LINUX
def test_the_thread_runs_at_the_lowest_priority_and_only_it():
    before = _my_nice()
    w = Worker()
    assert _unwaited(w, _my_nice) == 19 == w.nice
    assert _my_nice() == before  # the caller (training) keeps its priority
    w.close()
    w = Worker(nice=0)  # tracking.thread_nice: 0 leaves the thread as the process
    assert _unwaited(w, _my_nice) == before and w.nice is None
    w.close()


@LINUX
def test_while_training_waits_the_thread_runs_at_the_waiters_priority():
    w = Worker()
    _unwaited(w, lambda: None)  # the thread has lowered itself
    while_waited = w.call("nice", _my_nice, timeout_s=30)
    assert while_waited == (_my_nice() if _can_raise_priority() else 19)
    assert _unwaited(w, _my_nice) == 19  # lowered again after the wait
    w.close()


@LINUX
def test_a_failure_at_low_priority_still_surfaces():
    w = Worker(nice=19)
    w.submit("low", lambda: {}["missing"])
    with pytest.raises(TrackingError, match=r"low failed: 'missing'"):
        w.flush(30)
    w.close()


def test_cpu_seconds_count_the_threads_own_work_not_its_waits():
    def spin(cpu_s: float) -> None:
        t0 = time.thread_time()
        while time.thread_time() - t0 < cpu_s:
            pass

    w = Worker()
    gc.collect()  # a collection of the whole suite's garbage on the worker thread is not its work
    gc.disable()
    try:
        w.submit("spin", spin, 0.05)
        w.submit("sleep", time.sleep, 0.3)
        w.flush(60)
    finally:
        gc.enable()
    assert w.cpu_seconds["spin"] >= 0.05 and w.seconds["spin"] >= w.cpu_seconds["spin"]
    assert w.seconds["sleep"] >= 0.3 and w.cpu_seconds["sleep"] < 0.05
    w.close()


def _table(root, values, name="part-0.parquet"):
    (root / "event_date=2024-01-01").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"x": values}), root / "event_date=2024-01-01" / name)


def test_file_digest_covers_bytes_paths_and_rows_not_hidden_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _table(a, [1.0, 2.0, 3.0])
    _table(b, [1.0, 2.0, 3.0])
    da, db = file_digest(a), file_digest(b)
    assert da["digest"] == db["digest"] and da["rows"] == 3 and da["files"] == 1
    (a / "_SUCCESS").write_text("")  # Spark's markers and metadata are not table content
    (a / "event_date=2024-01-01" / ".part-0.parquet.crc").write_bytes(b"x")
    assert file_digest(a)["digest"] == da["digest"]
    _table(b, [1.0, 2.0, 4.0])  # one value differs
    assert file_digest(b)["digest"] != da["digest"]
    _table(b, [5.0], name="part-1.parquet")  # one more file
    assert file_digest(b)["rows"] == 4
    c = tmp_path / "c"
    _table(c, [1.0, 2.0, 3.0])
    (c / "event_date=2024-01-01").rename(c / "event_date=2024-01-02")  # partition value
    assert file_digest(c)["digest"] != da["digest"]
