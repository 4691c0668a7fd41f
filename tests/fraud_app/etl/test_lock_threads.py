"""The run lock between the threads of one process: re-entrant in the thread that holds it,
refused to any other thread, as to another process (it counted its depth per process: a
second thread's `etl` and `features` on the same root both ran)."""

from __future__ import annotations

import threading

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import LOCK_NAME, RootLock


def _in_thread(fn, name: str):
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return out


def test_a_second_thread_is_refused_while_the_first_holds_the_root(tmp_path):
    with RootLock(str(tmp_path), "etl"):

        def take() -> str:
            with RootLock(str(tmp_path), "features"):
                return "entered"

        out = _in_thread(take, "notebook-pool-1")
        assert "value" not in out, "a second thread entered a held root lock"
        err = out["error"]
        assert isinstance(err, ConcurrentRunError)
        text = str(err)
        assert "MainThread" in text and "notebook-pool-1" in text
        assert "features" in text and str(tmp_path) in text
        assert (tmp_path / LOCK_NAME).exists()  # the holder's lock is untouched
    assert not (tmp_path / LOCK_NAME).exists()

    # released: another thread takes it now, and its nesting is its own
    def nested() -> bool:
        with RootLock(str(tmp_path), "run"), RootLock(str(tmp_path), "etl"):
            inside = (tmp_path / LOCK_NAME).exists()
        return inside and not (tmp_path / LOCK_NAME).exists()

    assert _in_thread(nested, "worker") == {"value": True}


def test_the_holding_thread_re_enters_and_releases_at_the_outermost_exit(tmp_path):
    lock_file = tmp_path / LOCK_NAME
    with RootLock(str(tmp_path), "run"):
        with RootLock(str(tmp_path), "etl"):
            assert lock_file.exists()
        assert lock_file.exists()  # the inner exit keeps the outer hold
        with pytest.raises(ConcurrentRunError), RootLock(str(tmp_path), "run"):
            out = _in_thread(lambda: RootLock(str(tmp_path), "x").__enter__(), "t2")
            raise out["error"]
        assert lock_file.exists()  # an error inside a nested hold keeps the outer one
    assert not lock_file.exists()
