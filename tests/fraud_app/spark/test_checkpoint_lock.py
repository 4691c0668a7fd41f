"""checkpoint_lock: one fit per checkpoint directory among the threads of a process, the
directory given back on every way out of the fit (no Spark: the lock alone).

A registration left behind refused every later fit of the process in that directory as
"another distributed training of this process (thread ...)", naming a thread that had
ended: a fit that failed, was interrupted, or met another process's lock."""

from __future__ import annotations

import threading

import pytest

from fraud_app.errors import ConcurrentRunError, EnvironmentSetupError
from fraud_app.spark.checkpoint_lock import checkpoint_lock
from tests.processes import held_in_child

LOCK = ".training.lock"


def _enter_in_thread(directory) -> BaseException | None:
    """Take and give back `directory` in another thread: its error, or None."""
    outcome: list[BaseException | None] = []

    def fit() -> None:
        try:
            with checkpoint_lock(str(directory), LOCK):
                outcome.append(None)
        except BaseException as exc:  # reported by the caller's assertion
            outcome.append(exc)

    thread = threading.Thread(target=fit, name="second-fit")
    thread.start()
    thread.join(30)
    assert outcome, "the thread did not end"
    return outcome[0]


def test_another_thread_is_refused_while_a_fit_trains_and_admitted_after(tmp_path):
    with checkpoint_lock(str(tmp_path), LOCK):
        refused = _enter_in_thread(tmp_path)
    assert isinstance(refused, ConcurrentRunError)
    me = threading.current_thread().name
    assert f"(thread {me!r}; this is 'second-fit')" in str(refused)
    assert _enter_in_thread(tmp_path) is None
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("error", [RuntimeError("a stage failed"), KeyboardInterrupt()])
def test_a_fit_that_fails_or_is_interrupted_gives_the_directory_back(tmp_path, error):
    with pytest.raises(type(error)), checkpoint_lock(str(tmp_path), LOCK):
        raise error
    assert _enter_in_thread(tmp_path) is None
    assert not (tmp_path / LOCK).exists()


def test_a_fit_refused_by_another_process_gives_the_directory_back(tmp_path):
    held = f"from fraud_app.etl.lock import RootLock\nRootLock({str(tmp_path)!r}, 'x', {LOCK!r})"
    with (
        held_in_child(held),
        pytest.raises(ConcurrentRunError, match="pid"),
        checkpoint_lock(str(tmp_path), LOCK),
    ):
        pass
    assert _enter_in_thread(tmp_path) is None


def test_a_directory_that_cannot_be_created_is_named_each_time(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for _ in range(2):  # not "another distributed training of this process" the second time
        with (
            pytest.raises(EnvironmentSetupError, match="cannot create"),
            checkpoint_lock(str(blocker / "ckpt"), LOCK),
        ):
            pass
