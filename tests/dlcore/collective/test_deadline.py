"""`Deadline.remaining` with watched sockets: the wait it returns is always one
`socket.settimeout` accepts, also when another thread's look moved `_next_look` back
(review33, session 33: the sender thread and the caller share a collective's deadline)."""

from __future__ import annotations

import socket
import time

from dlcore.collective.deadline import MIN_WAIT_S, Deadline


class _RacedDeadline(Deadline):
    """Its look is followed at once by another thread's, which read the clock earlier."""

    def _look(self, now: float) -> None:
        super()._look(now)
        self._next_look = now - 1.0  # the other thread's older `now + budget / 8`


def test_a_look_raced_by_another_thread_still_gives_a_positive_wait():
    a, b = socket.socketpair()
    try:
        deadline = _RacedDeadline.without_progress(8.0, watch=[a])
        deadline._next_look = time.monotonic() - 0.1  # due: remaining() looks
        wait = deadline.remaining("a chunk", "rank 1")
        assert wait >= MIN_WAIT_S
        a.settimeout(wait)  # raised ValueError: "Timeout value out of range"
    finally:
        a.close()
        b.close()


def test_the_wait_never_passes_the_next_look_nor_the_deadline():
    a, b = socket.socketpair()
    try:
        deadline = Deadline.without_progress(8.0, watch=[a])
        wait = deadline.remaining("a chunk", "rank 1")
        assert MIN_WAIT_S <= wait <= 8.0 / 8 + 1e-6
        assert Deadline.after(0.5).remaining("x", "y") <= 0.5
    finally:
        a.close()
        b.close()
