"""ConnectionServer: a listening socket served by one background thread.

Owns: the listener, the address peers should dial, the accept loop (one selector
thread that lives until `stop_serving()`), and handing every accepted connection
to `handle(conn, addr)` on its own daemon thread. Does not own what a connection
says: subclasses authenticate it and speak their protocol (the rendezvous
server here, the Spark trainer's boundary-report server in fraud_app).

The accept loop must survive strangers: anyone who can reach the port can open
connections before authenticating. So at most `max_connections` are served at
once (more are closed at once, unread), and an error from accept() itself
(out of file descriptors, an aborted connection, no thread to spare) is logged
and retried after a short pause instead of ending the loop.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from typing import Any, Self

from dlcore.collective.wire import open_listener

logger = logging.getLogger(__name__)

Address = tuple[str, int]
WILDCARDS = ("", "0.0.0.0", "::")
MAX_CONNECTIONS = 256  # served at once; a job needs world_size (+ a few retried) of them
ACCEPT_BACKOFF_S = 0.05


class ConnectionServer:
    """Accepts connections in a background thread; subclasses implement `handle`."""

    def __init__(
        self,
        host: str,
        port: int,
        advertise_host: str | None,
        name: str,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._max_connections = max_connections
        self._active = 0
        self._active_lock = threading.Lock()
        self._refused = 0
        self._listener = open_listener(host, port)
        self._listener.setblocking(False)
        port = self._listener.getsockname()[1]
        shown = advertise_host or (socket.gethostname() if host in WILDCARDS else host)
        self.address: Address = (shown, port)
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name=f"{name}-{port}", daemon=True)
        self._thread.start()

    def handle(self, conn: socket.socket, addr: Any) -> None:
        """Serve one accepted (blocking) connection; runs on its own daemon thread."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop serving; subclasses that hold connections or rounds extend this."""
        self.stop_serving()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop_serving(self) -> None:
        """Stop the accept loop and close the listener. Call once."""
        self._wake_w.send(b"x")
        self._thread.join(timeout=5.0)
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()

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
        with self._active_lock:
            full = self._active >= self._max_connections
            if not full:
                self._active += 1
        if full:
            self._refused += 1
            if self._refused in (1, 10, 100) or self._refused % 1000 == 0:
                logger.warning(
                    "%s: %d connections already being served; closed one from %s unread "
                    "(%d so far)", self.address, self._max_connections, addr, self._refused,
                )  # fmt: skip
            conn.close()
            return
        conn.setblocking(True)
        try:
            threading.Thread(target=self._run_handler, args=(conn, addr), daemon=True).start()
        except RuntimeError as exc:  # cannot start a new thread
            logger.warning("%s: no thread for a connection from %s (%s)", self.address, addr, exc)
            self._release()
            conn.close()

    def _run_handler(self, conn: socket.socket, addr: Any) -> None:
        try:
            self.handle(conn, addr)
        except Exception:
            logger.exception("%s: handler for %s failed", self.address, addr)
            with contextlib.suppress(OSError):
                conn.close()
        finally:
            self._release()

    def _release(self) -> None:
        with self._active_lock:
            self._active -= 1
