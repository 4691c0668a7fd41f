"""Deadlines of network waits: fixed ones, and ones that measure a stall.

Owns `Deadline`, which every blocking wait of `dlcore.collective` (and fraud_app's
boundary reports) takes, and the PeerTimeoutError message that says what was waited for,
from whom, and for how long. Does not own any waiting: `wire.py` and the transports wait.

`Deadline.after(s)`: fixed, s seconds from now (connecting, handshakes, reports).

`Deadline.without_progress(s)`: passes once s seconds go by without the operation's
bytes moving. Every byte the wire primitives send or receive under it (`progress()`)
moves it to s seconds after that byte, and so does a drain of the send queues of the
sockets it `watch`es, looked at every s/8 seconds of a wait: bytes this rank handed to
the kernel earlier and that are still leaving it on a slow link (Linux's TIOCOUTQ;
elsewhere only the bytes the process itself moves count). A collective's deadline is of this
kind, so it measures a stall (a frozen or partitioned peer, a peer that stopped
reading), not how long a large transfer takes on a slow link that keeps moving; the
operation still ends at most s (+ s/8) seconds after the last byte it moved: a peer
that stops answering is noticed that long after what was already in flight arrived. The
sender thread and the caller's thread may both call `progress()` (a float store).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence

from dlcore.errors import PeerTimeoutError

try:  # Linux: bytes in a TCP socket's send queue (not yet acknowledged by the peer)
    import fcntl
    import termios

    _OUTQ = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _OUTQ = None


def send_queue_bytes(sock: socket.socket) -> int | None:
    """Bytes still in `sock`'s kernel send queue, or None where that cannot be read."""
    if _OUTQ is None:  # pragma: no cover - not Linux
        return None
    with contextlib.suppress(OSError, ValueError):
        raw = fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0")
        return int.from_bytes(raw, "little", signed=True)
    return None


LOOKS_PER_BUDGET = 8  # a drain is noticed within 1/8 of the budget
MIN_WAIT_S = 1e-3  # the shortest wait `remaining` returns with watched sockets


class Deadline:
    """A `time.monotonic()` deadline that remembers its budget for messages (see above)."""

    __slots__ = ("_at", "_next_look", "_queued", "_watch", "budget", "setting", "stall", "started")

    def __init__(
        self,
        at: float,
        budget: float,
        stall: bool = False,
        watch: Sequence[socket.socket] = (),
        setting: str | None = None,
    ) -> None:
        """`setting`: the name of the setting that sets `budget`, for the message."""
        self._at, self.budget, self.stall, self.setting = at, budget, stall, setting
        self.started = at - budget
        self._watch = tuple(watch)
        self._queued = [send_queue_bytes(s) for s in self._watch]
        self._next_look = at - budget + budget / LOOKS_PER_BUDGET

    @classmethod
    def after(cls, seconds: float, setting: str | None = None) -> Deadline:
        return cls(time.monotonic() + seconds, seconds, setting=setting)

    @classmethod
    def without_progress(
        cls, seconds: float, watch: Sequence[socket.socket] = (), setting: str | None = None
    ) -> Deadline:
        return cls(time.monotonic() + seconds, seconds, stall=True, watch=watch, setting=setting)

    @property
    def at(self) -> float:
        return self._at

    def progress(self) -> None:
        """Bytes moved: a stall deadline starts its budget again (a fixed one stays)."""
        if self.stall:
            self._at = time.monotonic() + self.budget

    def remaining(self, what: str, peer: str) -> float:
        """Seconds to wait; raises PeerTimeoutError naming `what` and `peer` when none are
        left. With watched sockets a wait lasts at most LOOKS_PER_BUDGET-th of the budget,
        so the caller comes back and the send queues are looked at (`_look`) meanwhile."""
        now = time.monotonic()
        if self._watch and now >= self._next_look:
            self._look(now)
        left = self._at - now
        # `left` is never exactly 0.0 (a float of nanosecond clock readings), so `< 0` and
        # `<= 0` cannot be told apart: equivalent mutants (docs/TESTING.md).
        if left <= 0:  # pragma: no mutate
            raise self.timeout_error(what, peer)
        if not self._watch:
            return left
        # another thread's `_look` (the sender's and the caller's share a deadline) may have
        # set `_next_look` from an older clock reading meanwhile: a wait of <= 0 would make
        # settimeout raise ValueError, so the caller comes back at once instead
        return max(min(left, self._next_look - now), MIN_WAIT_S)

    def _look(self, now: float) -> None:
        """A watched send queue that changed since the last look (or the last byte this
        process moved) drained onto the link: progress."""
        self._next_look = now + self.budget / LOOKS_PER_BUDGET
        queued = [send_queue_bytes(s) for s in self._watch]
        if queued != self._queued:
            self._queued = queued
            self._at = now + self.budget

    def timeout_error(self, what: str, peer: str) -> PeerTimeoutError:
        remedy = f"(raise {self.setting or 'the timeout'} if that is expected)"
        if not self.stall:
            return PeerTimeoutError(
                f"deadline of {self.budget:.3g} s passed while waiting for {what} from {peer}; "
                f"the peer is stalled, partitioned or much slower than the others {remedy}"
            )
        ran = time.monotonic() - self.started
        return PeerTimeoutError(
            f"deadline of {self.budget:.3g} s passed without progress while waiting for "
            f"{what} from {peer} (the operation ran {ran:.3g} s); the peer is stalled or "
            f"partitioned, or it computes longer than that between collectives {remedy}"
        )
