"""A TCP proxy for the integrity tests: forwards one connection faithfully, except one byte.

It sits between a rank and its right neighbour's listener (the dialing rank's peer table
names the proxy), so the authenticated handshake and the ring's frames pass through it
unchanged; the byte at `offset` of the stream towards the listener is flipped or dropped.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from dlcore.collective.wire import open_listener

LOOPBACK = "127.0.0.1"


class Proxy:
    """Forwards one connection to `target`; damages the byte at `offset` going there."""

    def __init__(self, target: tuple[str, int], damage: str | None, offset: int) -> None:
        self.target, self.damage, self.offset, self.damaged = target, damage, offset, False
        self.listener = open_listener(LOOPBACK)
        self.address = self.listener.getsockname()
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    def _accept(self) -> None:
        self.listener.settimeout(20.0)
        client, _ = self.listener.accept()
        server = socket.create_connection(self.target, timeout=20.0)
        client.settimeout(20.0)
        for src, dst, damage in ((client, server, self.damage), (server, client, None)):
            threading.Thread(target=self._pump, args=(src, dst, damage), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, damage: str | None) -> None:
        offset = 0
        try:
            while data := src.recv(1 << 16):
                at, offset = self.offset - offset, offset + len(data)  # offsets in the original
                if damage and 0 <= at < len(data):
                    chunk = bytearray(data)
                    if damage == "flip":
                        chunk[at] ^= 0x10
                    else:
                        del chunk[at]
                    data, self.damaged = bytes(chunk), True
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
