"""Forming a rank's ring (dlcore.collective.communicator.Communicator): its ring port,
which accepts the left neighbour's authenticated connection while strangers are held to
the ConnectionServer limits (`RingPort`), the authenticated dial of the right neighbour
(`dial_right`), the identity both sides prove (`ring_identity`), and the error of a ring
that could not form, naming the address this rank advertised (`with_advertised`).

Owns the connections until the ring holds them; the communicator owns them from then on
(its sender thread, the collectives, failure handling and closing), and the handshake
itself is dlcore.collective.auth's.
"""

from __future__ import annotations

import queue
import socket
import threading
from typing import TYPE_CHECKING, Any

from dlcore.collective import addresses
from dlcore.collective.auth import Identity, connect_authenticated
from dlcore.collective.config import Member
from dlcore.collective.rendezvous import Address
from dlcore.collective.server import ConnectionServer, ServerLimits
from dlcore.collective.wire import Deadline, configure_socket
from dlcore.errors import CommunicationError

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator


def ring_identity(member: Member) -> Identity:
    """What a ring connection of `member` proves in its handshake (its round included)."""
    return {
        "purpose": "ring",
        "rank": member.rank,
        "world_size": member.world_size,
        "round_id": member.round_id,
    }


def dial_right(comm: Communicator, address: Address, deadline: Deadline) -> socket.socket:
    """The authenticated connection to `comm`'s right neighbour at `address`, before
    `deadline`; CommunicationError when the peer there is not that neighbour."""
    # Retried until the deadline if the right neighbour's port evicted us to make room
    # (a connection flood there) or the connection broke before the handshake ended;
    # not when it refuses the connection: its port was open before the rendezvous, so
    # that process has gone (failing at once, as before).
    what = f"the ring connection to {comm.right_name}"
    sock, theirs = connect_authenticated(
        address, comm._secret, ring_identity(comm.member), deadline, what,
        comm.config.socket_buffer_bytes, retry_connect=False,
    )  # fmt: skip
    expected = {**ring_identity(comm.member), "rank": comm.member.right}
    if theirs != expected:
        sock.close()
        raise CommunicationError(
            f"{address[0]}:{address[1]} is {theirs}, expected {expected}; "
            "the peer table is stale (was the rendezvous round reused?)"
        )
    return sock


def with_advertised(exc: CommunicationError, comm: Communicator) -> CommunicationError:
    """`exc` (same type) plus the address this rank advertised and its interface: when
    the ring cannot form, the usual cause is an advertised address the peers cannot
    reach (a host with several networks: the one towards the rendezvous server)."""
    host, port = comm.peers[comm.rank]
    interface = addresses.interface_of(host)
    on = f" (interface {interface})" if interface else ""
    if not interface and addresses.is_literal(host):
        on = " (not an address of this host's interfaces)"
    text = str(exc)
    stop = "" if text.endswith((".", "?", "!")) else "."  # "still alive?. This" read badly
    return type(exc)(
        f"{text}{stop} This rank advertised {addresses.show(host, port)}{on} for its ring neighbours "
        f"to dial; if the peers cannot reach it, choose the address with "
        f"{comm.config.advertise_setting}"
    )


class RingPort(ConnectionServer):
    """A rank's ring port while its ring forms: waits for the left neighbour.

    Every connection authenticates on its own thread, under the ConnectionServer limits
    (`CommConfig.handshake_timeout`; strangers held at once, evicted to make room), so a
    stranger that connects first and stays silent, stalls mid-handshake or floods the
    port delays the left neighbour by no more than its own handshake takes. An
    authenticated peer that is not the left neighbour of this round is refused and
    logged (auth.py).
    """

    def __init__(self, comm: Communicator, listener: socket.socket) -> None:
        self._rank, self._buffer = comm.rank, comm.config.socket_buffer_bytes
        self._expected = {**ring_identity(comm.member), "rank": comm.member.left}
        self._arrived: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._closing = threading.Lock()
        self._closed = False  # under _closing: a handshake ending after close() is cut off
        host, port = listener.getsockname()[:2]
        super().__init__(
            host, port, None, f"dlcore-ring-{comm.rank}", secret=comm._secret,
            identity=ring_identity(comm.member),
            limits=ServerLimits(handshake_timeout=comm.config.handshake_timeout),
            listener=listener,
        )  # fmt: skip

    def check(self, identity: Identity) -> str | None:
        if identity != self._expected:
            return (
                f"rank {self._rank} accepts only {self._expected} on its ring port, not {identity}"
            )
        return None

    def serve(self, conn: socket.socket, identity: Identity, addr: Any) -> None:
        configure_socket(conn, self._buffer)
        with self._closing:
            if not self._closed:
                self._arrived.put(conn)
                return
        conn.close()  # authenticated after the ring formed or gave up: nobody takes it

    def take(self, deadline: Deadline, name: str) -> socket.socket:
        """The left neighbour's authenticated connection; PeerTimeoutError at `deadline`."""
        while True:
            try:
                return self._arrived.get(timeout=deadline.remaining("the ring connection", name))
            except queue.Empty:
                continue  # remaining() raises once the deadline has passed

    def close(self) -> None:
        """Stop accepting; close connections that arrived but were not taken, and any
        whose handshake ends after this (its handler thread outlives stop_serving)."""
        self.stop_serving()
        with self._closing:
            self._closed = True
        while True:
            try:
                self._arrived.get_nowait().close()
            except queue.Empty:
                return
