"""A stranger on a rank's ring port while the ring forms: it must not delay the ring.

Real sockets on loopback; the strangers come from the same host as the ranks (the
hardest case for per-source limits). A rank opens its ring port before the
rendezvous, so anyone on the network may reach it before the left neighbour does.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time

import numpy as np
import pytest

from dlcore.collective import Communicator, Member, loopback_config
from dlcore.collective.auth import NONCE_BYTES, _message
from dlcore.collective.wire import Deadline, Kind, open_listener, pack_header, send_frame
from dlcore.errors import CommunicationError

HANDSHAKE_S = 3.0  # a stranger that is waited out one after another costs this much each
RING = {"purpose": "ring", "rank": 0, "world_size": 2, "round_id": 0}


def _strangers(address, how: str, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(address, timeout=5.0)
        if how == "hello":  # a valid-looking HELLO, then nothing
            hello = _message(secrets.token_bytes(NONCE_BYTES), RING)
            send_frame(sock, Kind.HELLO, hello, Deadline.after(5.0), "test")
        elif how == "huge":  # a header that declares an 8 EiB frame
            sock.sendall(pack_header(Kind.HELLO, 1 << 63))
        elif how == "garbage":
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        socks.append(sock)
    return socks


def _form_ring(secret, strangers: dict[str, int]):
    """Two ranks form a ring after `strangers` ({how: count}) reached both ring ports.

    Returns (seconds each rank took to form the ring and all-reduce, results)."""
    listeners = [open_listener("127.0.0.1") for _ in range(2)]
    peers = [s.getsockname()[:2] for s in listeners]
    held = [s for p in peers for how, n in strangers.items() for s in _strangers(p, how, n)]
    config = loopback_config(
        transport="socket", topology="flat", handshake_timeout=HANDSHAKE_S, connect_timeout=20.0
    )
    took: list[float | None] = [None, None]
    results: list = [None, None]

    def rank(r: int) -> None:
        t0 = time.monotonic()
        try:
            with Communicator(Member(r, 2), peers, secret, listeners[r], config) as comm:
                results[r] = comm.all_reduce(np.full(4, r + 1.0, dtype=np.float32)).copy()
        except Exception as exc:  # the assertion shows it
            results[r] = exc
        took[r] = time.monotonic() - t0

    threads = [threading.Thread(target=rank, args=(r,), daemon=True) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30.0)
    for s in held:
        s.close()
    return took, results


def test_silent_stalled_and_oversized_strangers_do_not_delay_the_ring(secret):
    took, results = _form_ring(secret, {"silent": 1, "hello": 1, "huge": 1, "garbage": 1})
    for r in range(2):
        assert isinstance(results[r], np.ndarray), results[r]
        np.testing.assert_array_equal(results[r], [3.0] * 4)
    # Before: the port authenticated one connection at a time, so the silent stranger and
    # the stalled HELLO each held the left neighbour back for the whole handshake timeout.
    assert max(took) < HANDSHAKE_S / 2, took


def test_an_idle_flood_of_a_ring_port_does_not_delay_the_ring(secret, caplog):
    with caplog.at_level(logging.DEBUG, logger="dlcore.collective"):
        took, results = _form_ring(secret, {"silent": 100})
    for r in range(2):
        assert isinstance(results[r], np.ndarray), results[r]
        np.testing.assert_array_equal(results[r], [3.0] * 4)
    assert max(took) < HANDSHAKE_S / 2, took
    # 200 strangers: evicted and counted, not a WARNING line each
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 10, [r.getMessage() for r in warnings]


def test_a_right_neighbour_that_has_gone_still_fails_the_ring_at_once(secret):
    """Its port was open before the rendezvous: a refused connection is not retried."""
    mine, gone = open_listener("127.0.0.1"), open_listener("127.0.0.1")
    peers = [mine.getsockname()[:2], gone.getsockname()[:2]]
    gone.close()
    config = loopback_config(transport="socket", topology="flat", connect_timeout=20.0)
    t0 = time.monotonic()
    with pytest.raises(
        CommunicationError, match=r"cannot connect to .*is that process still alive"
    ):
        Communicator(Member(0, 2), peers, secret, mine, config)
    assert time.monotonic() - t0 < 2.0


def test_a_ring_connection_authenticated_after_the_port_closed_is_closed(secret):
    """Review 38: a handshake that ended between the ring port's close() and its handler's
    serve() (a duplicate left connection, or the left neighbour's while the ring gave up)
    left its socket open in the port's queue: the peer saw a ring connection nobody read.
    serve() after close() is that moment, without the timing."""
    from dlcore.collective.ring_connect import RingPort

    listener = open_listener("127.0.0.1")
    with Communicator(Member(0, 1), [("127.0.0.1", 1)], secret, None) as comm:
        port = RingPort(comm, listener)
    port.close()
    ours, theirs = socket.socketpair()
    with theirs:
        port.serve(ours, RING, ("127.0.0.1", 0))
        assert ours.fileno() == -1  # before: still open, in a queue nobody reads
        assert theirs.recv(1) == b""  # the peer sees the close
