"""A real SIGTERM through the CLI's handler: raised at once outside a critical section,
held back inside one (an output's two renames) and raised when it ends. It landed between
`rename(final, old)` and `rename(new, final)` and left the output missing until the next
run's recovery."""

from __future__ import annotations

import os
import signal

import pytest

from fraud_app import interrupts
from pipelines import cli


@pytest.fixture
def handler():
    previous = signal.signal(signal.SIGTERM, cli._on_sigterm)
    yield
    signal.signal(signal.SIGTERM, previous)
    cli._TERMINATED.clear()


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler before the next bytecode


def test_a_stop_inside_a_critical_section_waits_for_its_end(handler):
    done = []
    with pytest.raises(interrupts.Terminated), interrupts.critical():
        _sigterm()
        done.append("first rename")
        done.append("second rename")
    assert done == ["first rename", "second rename"] and cli._TERMINATED.is_set()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second one ends the process


def test_a_stop_outside_is_raised_at_once(handler):
    done = []
    with pytest.raises(interrupts.Terminated):
        _sigterm()
        done.append("more work")
    assert done == []
