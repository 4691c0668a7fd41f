"""TCP rendezvous: every rank learns every other rank's listening address, in milliseconds.

Owns: `RendezvousServer` (run by the job driver in a background thread) and the
client call `rendezvous()` (run by each worker). Does not own the worker's
listening socket (the worker opens it first, then registers its address) nor the
ring connections (see `communicator.py`).

Each worker connects, authenticates with the job secret (`auth.py`), and announces
(rank, world size, round id, listening address). When all `world_size` ranks of a
round have registered, the server sends every one of them the full table and
closes the connections. Rounds make retries safe: a registration for a newer round
cancels the pending registrations of older rounds (those clients get a clear
error), a registration for an older or already completed round is refused, and a
rank registered twice in one round is refused.

This replaces `BarrierTaskContext.allGather()`, which takes about a second.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from dlcore.collective import addresses
from dlcore.collective.auth import Identity, check_secret, connect_authenticated
from dlcore.collective.config import Member
from dlcore.collective.server import WILDCARDS, Address, ConnectionServer, ServerLimits
from dlcore.collective.wire import Deadline, Kind, recv_json, send_frame, send_json
from dlcore.errors import CommunicationError, ConfigError, FrameError

logger = logging.getLogger(__name__)


@dataclass
class _Round:
    members: dict[int, tuple[socket.socket, Address]] = field(default_factory=dict)


class RendezvousServer(ConnectionServer):
    """Collects (rank -> address) registrations and hands out the full table per round.

    Usage (job driver):
        with RendezvousServer(secret, world_size=4, advertise_host=driver_host) as server:
            launch_workers(server.address, secret)     # e.g. a Spark barrier stage

    `address` is what workers dial: `advertise_host` if given, else the bound host
    (or this machine's hostname when bound to a wildcard address).
    """

    def __init__(
        self,
        secret: bytes,
        world_size: int,
        host: str = "0.0.0.0",
        port: int = 0,
        advertise_host: str | None = None,
        handshake_timeout: float | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        Member(0, world_size)  # validates world_size
        self.world_size = world_size
        limits = limits or ServerLimits()
        if handshake_timeout is not None:
            limits = ServerLimits(
                handshake_timeout, limits.max_pending, limits.max_pending_per_source
            )
        self._send_timeout = limits.handshake_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rounds: dict[int, _Round] = {}
        self._completed: set[int] = set()
        self._latest = -1
        self._closed = False
        super().__init__(
            host, port, advertise_host, "dlcore-rendezvous", secret=check_secret(secret),
            identity={"purpose": "rendezvous", "world_size": world_size}, limits=limits,
        )  # fmt: skip
        logger.info("rendezvous server for %d ranks listening at %s", world_size, self.address)

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        """Stop accepting; pending registrations receive an error. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = [m for r in self._rounds.values() for m in r.members.values()]
            self._rounds.clear()
        self.stop_serving()
        for sock, _ in pending:
            _send_error(sock, "the rendezvous server was closed before all ranks registered")

    def registered(self, round_id: int) -> list[int]:
        """Ranks registered so far for a pending round (for 'who is missing' diagnostics)."""
        with self._lock:
            return self._registered(round_id)

    def wait_registered(self, round_id: int, count: int, timeout: float) -> list[int]:
        """Wait until `count` ranks of `round_id` registered (or it completed), at most `timeout` s.

        Returns the registered ranks (all of them once complete); compare with the
        expected ranks to report who is missing.
        """
        with self._changed:
            self._changed.wait_for(
                lambda: round_id in self._completed or len(self._registered(round_id)) >= count,
                timeout=timeout,
            )
            if round_id in self._completed:
                return list(range(self.world_size))
            return self._registered(round_id)

    def _registered(self, round_id: int) -> list[int]:
        rnd = self._rounds.get(round_id)
        return sorted(rnd.members) if rnd else []

    # -- serving ------------------------------------------------------------------------
    def serve(self, conn: socket.socket, identity: Identity, addr: Any) -> None:
        self._register(conn, identity, addr[0])

    def check(self, identity: Identity) -> str | None:
        return self._check(identity)

    def _check(self, identity: Identity) -> str | None:
        if identity.get("purpose") != "rendezvous":
            return f"this is a rendezvous server; the client wants {identity.get('purpose')!r}"
        try:
            member = Member(identity["rank"], identity["world_size"], identity["round_id"])
            int(identity["port"]), str(identity["host"])
        except (KeyError, TypeError, ValueError, OverflowError, ConfigError) as exc:
            return f"malformed registration {identity!r}: {exc}"
        if member.world_size != self.world_size:
            return (
                f"world size mismatch: this job has {self.world_size} ranks, "
                f"rank {member.rank} announced {member.world_size}"
            )
        return None

    def _register(self, conn: socket.socket, identity: Identity, seen_host: str) -> None:
        rank, round_id = identity["rank"], identity["round_id"]
        host = identity["host"] if identity["host"] not in WILDCARDS else addresses.seen(seen_host)
        error, superseded, complete = None, [], None
        with self._lock:
            if self._closed:
                error = "the rendezvous server is closing"
            elif round_id < self._latest or round_id in self._completed:
                error = (
                    f"round {round_id} is stale (latest round is {self._latest}); "
                    "a retry must use a new, larger round_id"
                )
            else:
                if round_id > self._latest:
                    superseded = [m for r in self._rounds.values() for m in r.members.values()]
                    self._rounds.clear()
                    self._latest = round_id
                rnd = self._rounds.setdefault(round_id, _Round())
                if rank in rnd.members:
                    error = (
                        f"rank {rank} is already registered for round {round_id} "
                        f"(at {rnd.members[rank][1]}); each rank must register once per round"
                    )
                else:
                    rnd.members[rank] = (conn, (host, int(identity["port"])))
                    if len(rnd.members) == self.world_size:
                        complete = self._rounds.pop(round_id)
                        self._completed.add(round_id)
                    self._changed.notify_all()
        for sock, _ in superseded:
            _send_error(sock, f"round superseded by round {round_id} (a retry started)")
        if error:
            logger.warning("rendezvous refused rank %s round %s: %s", rank, round_id, error)
            _send_error(conn, error)
        elif complete:
            self._publish(round_id, complete)

    def _publish(self, round_id: int, rnd: _Round) -> None:
        peers = [rnd.members[r][1] for r in range(self.world_size)]
        if problem := _loopback_among_hosts(peers):
            logger.warning("rendezvous round %d refused: %s", round_id, problem)
            for sock, _ in rnd.members.values():
                _send_error(sock, problem)
            return
        payload = {"round_id": round_id, "peers": [list(a) for a in peers]}
        deadline = Deadline.after(self._send_timeout)
        for rank, (sock, _) in rnd.members.items():
            with contextlib.suppress(CommunicationError):
                send_json(sock, Kind.PEERS, payload, deadline, f"rank {rank}")
            sock.close()
        logger.info("rendezvous round %d complete: %d ranks", round_id, self.world_size)


def _loopback_among_hosts(peers: list[Address]) -> str | None:
    """Why this table cannot form a ring: some ranks would dial a loopback address (their
    own host, not the rank's) while others are on other hosts; None when it can.

    A rank on the server's host that registers its "seen" address connected over
    loopback, typically because the server's advertised name resolves to 127.0.1.1 on
    that host (Debian's /etc/hosts); an explicit loopback advertise_host is the same.
    Refusing here says so at once instead of after the connect deadline."""
    loop = [r for r, (host, _) in enumerate(peers) if addresses.is_loopback(host)]
    if not loop:
        return None
    # ranks at another address of this (the server's) host reach its loopback too: only a
    # rank elsewhere makes the table unusable (one host, ranks at 127.0.0.1 and eth0's)
    elsewhere = [r for r, (host, _) in enumerate(peers) if not addresses.is_local(host)]
    if not elsewhere:
        return None
    other = elsewhere[0]
    shown = ", ".join(f"rank {r} {addresses.show(*peers[r])}" for r in loop[:4])
    return (
        f"the peer table mixes loopback addresses ({shown}) with ranks on other hosts "
        f"(rank {other} at {addresses.show(*peers[other])}): those would dial their own "
        "host. A loopback address is what a rank on the rendezvous server's host registers "
        "when the server's advertised name resolves to a loopback address there (Debian's "
        "/etc/hosts maps the hostname to 127.0.1.1): advertise the server at an address the "
        "other hosts reach, or set the rank's advertise_host (advertise_interface)"
    )


def _send_error(sock: socket.socket, message: str) -> None:
    with contextlib.suppress(CommunicationError, OSError):
        send_frame(sock, Kind.ERROR, message.encode(), Deadline.after(1.0), "client")
    sock.close()


def rendezvous(
    server_address: Address,
    secret: bytes,
    member: Member,
    listen_address: Address,
    timeout: float = 60.0,
    setting: str | None = None,
) -> list[Address]:
    """Register `listen_address` for `member` and return every rank's address, by rank.

    `listen_address` is the (host, port) peers should dial; a wildcard host ("" or
    "0.0.0.0") means "the address the server sees me connect from". Open the
    listening socket BEFORE calling this, so peers can connect as soon as it returns.
    Raises PeerTimeoutError if the other ranks do not all register within `timeout`
    (its message tells to raise `setting`, the name of the timeout's setting, if given).
    """
    secret = check_secret(secret)
    deadline = Deadline.after(timeout, setting)
    server = f"rendezvous server {server_address[0]}:{server_address[1]}"
    identity = {
        "purpose": "rendezvous",
        "rank": member.rank,
        "world_size": member.world_size,
        "round_id": member.round_id,
        "host": listen_address[0],
        "port": int(listen_address[1]),
    }
    sock, _ = connect_authenticated(
        server_address, secret, identity, deadline, "rendezvous registration", 1 << 16
    )
    try:
        what = (
            f"the peer table (all {member.world_size} ranks of round {member.round_id} "
            f"registered; this is rank {member.rank})"
        )
        reply = recv_json(sock, Kind.PEERS, deadline, server, what=what)
    finally:
        sock.close()
    return _parse_peers(reply, member, server)


def _parse_peers(reply: dict[str, Any], member: Member, server: str) -> list[Address]:
    try:
        peers = [(str(h), int(p)) for h, p in reply["peers"]]
        round_id = reply["round_id"]
    except (KeyError, TypeError, ValueError) as exc:
        raise FrameError(f"{server} sent a malformed peer table: {exc!r}") from None
    if len(peers) != member.world_size or round_id != member.round_id:
        raise FrameError(
            f"{server} sent a table of {len(peers)} peers for round {round_id}; expected "
            f"{member.world_size} peers for round {member.round_id}: {json.dumps(reply)[:200]}"
        )
    return peers
