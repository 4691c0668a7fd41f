"""A real SIGTERM through the CLI's handler: raised at once outside a critical section,
held back inside one (an output's two renames) and raised when it ends. It landed between
`rename(final, old)` and `rename(new, final)` and left the output missing until the next
run's recovery."""

from __future__ import annotations

import os
import signal

import pytest

from fraud_app import interrupts
from pipelines import cli_stops


@pytest.fixture
def handler():
    previous = signal.signal(signal.SIGTERM, cli_stops.on_sigterm)
    yield
    signal.signal(signal.SIGTERM, previous)
    cli_stops.TERMINATED.clear()


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler before the next bytecode


def test_a_stop_inside_a_critical_section_waits_for_its_end(handler):
    done = []
    with pytest.raises(interrupts.Terminated), interrupts.critical():
        _sigterm()
        done.append("first rename")
        done.append("second rename")
    assert done == ["first rename", "second rename"] and cli_stops.TERMINATED.is_set()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second one ends the process


def test_a_stop_outside_is_raised_at_once(handler):
    done = []
    with pytest.raises(interrupts.Terminated):
        _sigterm()
        done.append("more work")
    assert done == []


def test_a_stop_while_the_lock_file_is_written_leaves_no_lock(handler, tmp_path):
    """`fraud-app etl` stopped right as its lock file appeared (tests/pipelines/
    test_cli_sigterm.py sends SIGTERM then): the stop landed inside RootLock.__enter__, whose
    __exit__ then never ran, and the lock stayed behind."""
    from fraud_app.etl.lock import RootLock

    class SignalledWhileWriting(RootLock):
        def _create(self) -> bool:
            created = super()._create()  # the file exists now; __enter__ has not returned
            _sigterm()
            return created

    lock = SignalledWhileWriting(tmp_path, "etl")
    with pytest.raises(interrupts.Terminated), lock:
        pytest.fail("the stop was not raised before the block")
    assert not lock.path.exists()
    with RootLock(tmp_path, "etl"):  # free for the next run
        assert lock.path.exists()
