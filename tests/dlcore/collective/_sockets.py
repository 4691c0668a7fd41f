"""Socket helpers shared by the wire and auth tests (the `pair` fixture is in conftest.py)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from dlcore.collective.wire import Deadline

P = "rank 7 (h:1)"
STALLED = (
    "; the peer is stalled, partitioned or much slower than the others "
    "(raise the timeout if that is expected)"
)


def soon() -> Deadline:
    return Deadline.after(5.0)


@contextlib.contextmanager
def full_backlog() -> Iterator[tuple[str, int]]:
    """A listening address whose accept queue is full, so that a new connect's SYN is dropped."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(address)
            fillers.append(s)
        time.sleep(0.2)
        yield address
    finally:
        for s in fillers:
            s.close()
        listener.close()
