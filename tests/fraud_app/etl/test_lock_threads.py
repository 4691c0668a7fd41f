"""The run lock between the threads of one process: re-entrant in the thread that holds it,
refused to any other thread, as to another process (it counted its depth per process: a
second thread's `etl` and `features` on the same root both ran)."""

from __future__ import annotations

import pytest

from fraud_app.errors import ConcurrentRunError
from fraud_app.etl.lock import LOCK_NAME, RootLock
from tests.threads import in_thread


def test_a_second_thread_is_refused_while_the_first_holds_the_root(tmp_path):
    with RootLock(str(tmp_path), "etl"):

        def take() -> str:
            with RootLock(str(tmp_path), "features"):
                return "entered"

        result = in_thread(take, name="notebook-pool-1", timeout=30)
        with pytest.raises(ConcurrentRunError) as err:  # DID NOT RAISE: it entered
            result()
        text = str(err.value)
        assert "MainThread" in text and "notebook-pool-1" in text
        assert "features" in text and str(tmp_path) in text
        assert (tmp_path / LOCK_NAME).exists()  # the holder's lock is untouched
    assert not (tmp_path / LOCK_NAME).exists()

    # released: another thread takes it now, and its nesting is its own
    def nested() -> bool:
        with RootLock(str(tmp_path), "run"), RootLock(str(tmp_path), "etl"):
            inside = (tmp_path / LOCK_NAME).exists()
        return inside and not (tmp_path / LOCK_NAME).exists()

    assert in_thread(nested, name="worker", timeout=30)() is True


def test_the_holding_thread_re_enters_and_releases_at_the_outermost_exit(tmp_path):
    lock_file = tmp_path / LOCK_NAME
    with RootLock(str(tmp_path), "run"):
        with RootLock(str(tmp_path), "etl"):
            assert lock_file.exists()
        assert lock_file.exists()  # the inner exit keeps the outer hold
        with pytest.raises(ConcurrentRunError), RootLock(str(tmp_path), "run"):
            in_thread(lambda: RootLock(str(tmp_path), "x").__enter__(), name="t2", timeout=30)()
        assert lock_file.exists()  # an error inside a nested hold keeps the outer one
    assert not lock_file.exists()
