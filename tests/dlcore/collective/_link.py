"""A slow link for the stall tests: a TCP proxy that forwards one direction at a set rate.

It sits between a rank and its right neighbour's listener, like `_proxy.Proxy`. Its
sockets have small kernel buffers, so the sending rank's send queue drains at the
link's rate, as it does on a slow network (a proxy with large buffers would take a
whole segment at once and then hold it: a link with megabytes of buffer). After
`stall_after` bytes it stops forwarding and keeps both connections open: a peer that
is alive but sends nothing, like a frozen process or a black-holed route.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

LOOPBACK = "127.0.0.1"
BUFFER = 64 << 10  # kernel buffer of each proxy socket
PIECE = 16 << 10


class SlowLink:
    """Forwards one connection to `target` at `rate` bytes/s (towards the target)."""

    def __init__(self, target, rate: float, stall_after: int | None = None) -> None:
        self.target, self.rate, self.stall_after = target, rate, stall_after
        self.forwarded, self.stalled = 0, threading.Event()
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)  # accepted inherit
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(1)
        self.address = self.listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(60.0)
        client, _ = self.listener.accept()
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
        server.connect(self.target)
        self._socks = [client, server]
        threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        try:
            while data := src.recv(PIECE if slow else 1 << 16):
                if slow:
                    if self.stall_after is not None and self.forwarded >= self.stall_after:
                        self.stalled.set()
                        self._closed.wait()  # alive, connections open, nothing forwarded
                        return
                    time.sleep(len(data) / self.rate)  # the link's rate, not synchronisation
                    self.forwarded += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
