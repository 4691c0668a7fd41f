"""ConnectionServer: a listening socket served by one background thread.

Owns: the listener, the address peers should dial, the accept loop (one selector
thread that lives until `stop_serving()`), and handing every accepted connection
to `handle(conn, addr)` on its own daemon thread. Does not own what a connection
says: subclasses authenticate it and speak their protocol (the rendezvous
server here, the Spark trainer's boundary-report server in fraud_app).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from typing import Any

from dlcore.dist.wire import open_listener

Address = tuple[str, int]
WILDCARDS = ("", "0.0.0.0", "::")


class ConnectionServer:
    """Accepts connections in a background thread; subclasses implement `handle`."""

    def __init__(self, host: str, port: int, advertise_host: str | None, name: str) -> None:
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
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        conn, addr = self._listener.accept()
                        conn.setblocking(True)
                        threading.Thread(target=self.handle, args=(conn, addr), daemon=True).start()
