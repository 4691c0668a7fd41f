"""ConnectionServer: a listening socket whose connections must authenticate before they count.

Owns: the listener, the address peers should dial, the accept loop (one selector
thread that lives until `stop_serving()`), the mutual HMAC handshake of every
accepted connection (`auth.authenticate_server`, on the connection's own daemon
thread) and the limits that keep strangers from starving authenticated peers.
Does not own what an authenticated connection says: subclasses implement
`check(identity)` (refuse a proven peer for a reason: wrong rank, stale round) and
`serve(conn, identity, addr)` (their protocol: the rendezvous here, a rank's ring
port in `communicator.py`, the Spark trainer's boundary-report server in fraud_app).

Anyone who can reach the port can open connections before authenticating, so:

- a stranger (a connection that has not yet proven the job secret) has
  `ServerLimits.handshake_timeout` seconds to do so, then it is closed;
- at most `max_pending` strangers are held at once, at most `max_pending_per_source`
  from one host. When a new connection finds its host's share (or the whole pool)
  full, the server does not refuse the newcomer: it EVICTS one stranger already
  held, first one whose peer has gone, then one that has sent nothing, oldest
  first; one that is mid-handshake goes last. A worker sends its HELLO at once,
  so idle or closed connections of a flood are evicted before it; an evicted
  connection receives an ERROR frame saying why, and a client retries it
  (`auth.connect_authenticated`, with back-off, before its deadline);
- a refusal (garbage, a wrong secret, an unwanted peer) is logged at WARNING for the
  first one from each host, then at DEBUG: a flood of them is counted in the
  periodic "did not authenticate" lines instead of burying the real logs;
- a connection that proved the secret leaves the strangers' pool at that moment
  (atomically with eviction) and is never counted against it, nor evicted;
- an error from accept() itself (out of file descriptors, an aborted connection,
  no thread to spare) is logged and retried after a short pause.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import select
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Self

from dlcore.collective.auth import Identity, authenticate_server, check_secret
from dlcore.collective.wire import Deadline, Kind, open_listener, pack_header
from dlcore.errors import CommunicationError, ConfigError

logger = logging.getLogger(__name__)

Address = tuple[str, int]
WILDCARDS = ("", "0.0.0.0", "::")
ACCEPT_BACKOFF_S = 0.05
_POLLRDHUP = getattr(select, "POLLRDHUP", 0)  # Linux: the peer shut its side down
LISTEN_BACKLOG = 1024  # a burst of connections waits in the kernel, not in SYN retries
MAX_WARNED_HOSTS = 4096  # hosts whose first refusal was logged at WARNING (then all DEBUG)


@dataclass(frozen=True)
class ServerLimits:
    """How long and how many unauthenticated connections a server holds.

    handshake_timeout: seconds a new connection has to prove the job secret (a
        worker needs milliseconds; the margin is for a loaded machine).
    max_pending: strangers held at once, all hosts together.
    max_pending_per_source: strangers held at once from one host.
    """

    handshake_timeout: float = 5.0
    max_pending: int = 64
    max_pending_per_source: int = 16

    def __post_init__(self) -> None:
        if not self.handshake_timeout > 0:
            raise ConfigError(
                f"ServerLimits.handshake_timeout must be > 0 s. Received: {self.handshake_timeout!r}"
            )
        for name in ("max_pending", "max_pending_per_source"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"ServerLimits.{name} must be an integer >= 1. Received: {value!r}"
                )


@dataclass
class _Pending:
    """A connection that has not authenticated yet."""

    conn: socket.socket
    host: str
    seq: int
    hello: bool = False  # its HELLO arrived: a handshake is under way


class ConnectionServer:
    """Accepts and authenticates connections in background threads; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        advertise_host: str | None,
        name: str,
        *,
        secret: bytes,
        identity: Identity,
        limits: ServerLimits | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        """`listener`: an already listening socket to serve (host and port are then only
        what it was bound to); None opens one on (host, port)."""
        self._secret = check_secret(secret)
        self._server_identity = dict(identity)
        self.limits = limits or ServerLimits()
        self._pool_lock = threading.Lock()
        self._pool: dict[int, _Pending] = {}
        self._per_source: Counter[str] = Counter()
        self._warned: set[str] = set()  # hosts whose refusal was already logged at WARNING
        self._seq = itertools.count()
        self.evicted = 0  # strangers evicted to make room (for diagnostics and tests)
        self.authenticated = 0  # connections that proved the secret
        self.failed = 0  # strangers that closed, stayed silent or failed their handshake
        self._listener = listener or open_listener(host, port, backlog=LISTEN_BACKLOG)
        self._listener.setblocking(False)
        port = self._listener.getsockname()[1]
        shown = advertise_host or (socket.gethostname() if host in WILDCARDS else host)
        self.address: Address = (shown, port)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=f"{name}-{port}", daemon=True)
        self._thread.start()
        logger.info("%s listening at %s:%d", name, *self.address)

    # -- what subclasses implement ----------------------------------------------------------
    def check(self, identity: Identity) -> str | None:
        """A reason to refuse this authenticated peer, or None to accept it."""
        return None

    def serve(self, conn: socket.socket, identity: Identity, addr: Any) -> None:
        """Serve one authenticated (blocking) connection; runs on its own daemon thread.

        `serve` owns the connection from here: it closes it, now or later (the
        rendezvous keeps it until its round completes). If `serve` raises, it is closed.
        """
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop serving; subclasses that hold connections or rounds extend this."""
        self.stop_serving()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop_serving(self) -> None:
        """Stop the accept loop, close the listener and drop every stranger. Call once."""
        self._wake_w.send(b"x")
        self._thread.join(timeout=5.0)
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()
        with self._pool_lock:
            for entry in self._pool.values():
                with contextlib.suppress(OSError):
                    entry.conn.shutdown(socket.SHUT_RDWR)

    @property
    def pending(self) -> int:
        """Strangers held right now."""
        with self._pool_lock:
            return len(self._pool)

    # -- accept loop --------------------------------------------------------------------------
    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():  # lives until stop_serving() writes to the wake pipe
                    if key.fileobj is self._wake_r:
                        return
                    self._accept_one()

    def _accept_one(self) -> None:
        try:
            conn, addr = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # e.g. EMFILE: keep serving once descriptors free up
            logger.warning("%s: accept failed (%s); retrying shortly", self.address, exc)
            time.sleep(ACCEPT_BACKOFF_S)
            return
        conn.setblocking(True)
        entry = _Pending(conn, str(addr[0]), next(self._seq))
        with self._pool_lock:
            victim = self._make_room(entry.host)
            self._pool[entry.seq] = entry
            self._per_source[entry.host] += 1
        if victim is not None:
            self._evict(victim)
        try:
            threading.Thread(target=self._run_handler, args=(entry, addr), daemon=True).start()
        except RuntimeError as exc:  # cannot start a new thread
            logger.warning("%s: no thread for a connection from %s (%s)", self.address, addr, exc)
            self._forget(entry)
            conn.close()

    def _make_room(self, host: str) -> _Pending | None:
        """Under the lock: remove and return the stranger to evict, if the newcomer needs room."""
        limits = self.limits
        if self._per_source[host] >= limits.max_pending_per_source:
            pool = [e for e in self._pool.values() if e.host == host]
        elif len(self._pool) >= limits.max_pending:
            pool = list(self._pool.values())
        else:
            return None
        victim = min(pool, key=lambda e: (_progress(e), e.seq))
        self._drop(victim)
        return victim

    def _evict(self, victim: _Pending) -> None:
        """Tell the evicted stranger why (best effort, never blocks) and cut it off."""
        self.evicted += 1
        reason = (
            f"server busy: more than {self.limits.max_pending_per_source} unauthenticated "
            f"connections from {victim.host} (or {self.limits.max_pending} in all); this one was "
            "evicted before it authenticated. Retry; if it persists, a connection flood is "
            "hitting this port"
        ).encode()
        with contextlib.suppress(OSError):
            victim.conn.send(pack_header(Kind.ERROR, len(reason)) + reason, socket.MSG_DONTWAIT)
        with contextlib.suppress(OSError):
            victim.conn.shutdown(socket.SHUT_RDWR)  # its handler thread wakes up and closes it
        if self.evicted in (1, 10, 100) or self.evicted % 1000 == 0:
            logger.warning(
                "%s: evicted an unauthenticated connection from %s to make room (%d evicted so "
                "far; limits: %d per host, %d in all, %.3g s to authenticate). A connection flood?",
                self.address, victim.host, self.evicted, self.limits.max_pending_per_source,
                self.limits.max_pending, self.limits.handshake_timeout,
            )  # fmt: skip

    # -- one connection -----------------------------------------------------------------------
    def _run_handler(self, entry: _Pending, addr: Any) -> None:
        conn, peer = entry.conn, f"{addr[0]}:{addr[1]}"

        def promote(identity: Identity) -> str | None:
            # Called by auth after the client's MAC checked out, before our proof is sent:
            # from here on the connection is authenticated and can no longer be evicted.
            with self._pool_lock:
                if self._pool.get(entry.seq) is not entry:
                    return "evicted to make room for other connections (server busy)"
                self._drop(entry)
                self.authenticated += 1
            return self.check(identity)

        def hello(_: Identity) -> None:
            entry.hello = True

        def warn() -> bool:  # the first refusal of a host is a WARNING, the rest DEBUG
            with self._pool_lock:
                first = entry.host not in self._warned and len(self._warned) < MAX_WARNED_HOSTS
                if first:
                    self._warned.add(entry.host)
            return first

        try:
            deadline = Deadline.after(self.limits.handshake_timeout)
            identity = authenticate_server(
                conn, self._secret, self._server_identity, deadline, peer, promote,
                on_hello=hello, warn=warn,
            )  # fmt: skip
        except CommunicationError as exc:  # refusals are logged by auth
            self._forget(entry)
            conn.close()
            self.failed += 1
            if self.failed in (1, 10, 100) or self.failed % 1000 == 0:
                logger.warning(
                    "%s: %d connections so far did not authenticate (closed, silent for %.3g s, "
                    "or wrong secret; after a host's first refusal, its others are logged at "
                    "DEBUG); latest from %s: %s",
                    self.address, self.failed, self.limits.handshake_timeout, peer, exc,
                )  # fmt: skip
            return
        try:
            self.serve(conn, identity, addr)
        except Exception:
            logger.exception("%s: serving %s failed", self.address, peer)
            conn.close()

    def _drop(self, entry: _Pending) -> None:
        """Under the lock: remove a stranger from the pool."""
        del self._pool[entry.seq]
        self._per_source[entry.host] -= 1
        if not self._per_source[entry.host]:
            del self._per_source[entry.host]

    def _forget(self, entry: _Pending) -> None:
        with self._pool_lock:
            if self._pool.get(entry.seq) is entry:
                self._drop(entry)


def _progress(entry: _Pending) -> int:
    """0: its peer has gone; 1: silent; 2: sent bytes or is mid-handshake. Evict low first.

    poll() with a zero timeout only looks: it neither reads nor waits.
    """
    if entry.hello:
        return 2
    poller = select.poll()
    poller.register(entry.conn.fileno(), select.POLLIN | _POLLRDHUP)
    events = poller.poll(0)
    mask = events[0][1] if events else 0
    if mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL | _POLLRDHUP):
        return 0
    return 2 if mask & select.POLLIN else 1
