"""Socket helpers shared by the wire and auth tests (the `pair` fixture is in conftest.py):
the peer name and deadline text their messages quote, hand-made frame headers, a full backlog."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from dlcore.collective import wire
from dlcore.collective.wire import Deadline, Kind

P = "rank 7 (h:1)"
STALLED = (
    "; the peer is stalled, partitioned or much slower than the others "
    "(raise the timeout if that is expected)"
)


def soon() -> Deadline:
    return Deadline.after(5.0)


def header(
    kind: Kind, length: int = 0, tag: int = 0, *, magic: bytes = wire.MAGIC,
    version: int = wire.VERSION,
) -> bytes:  # fmt: skip
    """The raw bytes of a frame header, written by hand (not by wire.pack_header)."""
    return wire.HEADER.pack(magic, version, int(kind), 0, tag, length)


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
