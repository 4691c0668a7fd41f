"""Bytes damaged on the wire between two processes are detected, never summed in.

Rank 1 is a real process ('spawn'); rank 0 reaches it through a TCP proxy thread that
forwards the stream faithfully except for one byte far into the tensor data (after
the authenticated handshake): flipped, or dropped (a truncated payload). The CRC-32
trailer of every ring chunk (wire.py) must turn either into FrameError on the rank
that received it, before the bytes are reduced into its buffer.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading

import numpy as np
import pytest

from dlcore.collective import Communicator, Member, loopback_config, new_job_secret
from dlcore.collective.wire import open_listener
from dlcore.errors import CommunicationError
from tests.dlcore.collective._workers import all_reduce_once_via_pipe

LENGTH = 1 << 20  # 4 MiB: 2 MiB segments of 1 MiB chunks each way
OFFSET = (1 << 20) + 777  # stream offset of the damaged byte: inside a REDUCE payload
LOOPBACK = "127.0.0.1"


class Proxy:
    """Forwards one connection to `target`; damages the byte at OFFSET going there."""

    def __init__(self, target: tuple[str, int], damage: str | None) -> None:
        self.target, self.damage, self.damaged = target, damage, False
        self.listener = open_listener(LOOPBACK)
        self.address = self.listener.getsockname()
        self.threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.threads.append(accept)

    def _accept(self) -> None:
        self.listener.settimeout(20.0)
        client, _ = self.listener.accept()
        server = socket.create_connection(self.target, timeout=20.0)
        client.settimeout(20.0)
        for src, dst, damage in ((client, server, self.damage), (server, client, None)):
            t = threading.Thread(target=self._pump, args=(src, dst, damage), daemon=True)
            t.start()
            self.threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, damage: str | None) -> None:
        offset = 0
        try:
            while data := src.recv(1 << 16):
                at, offset = OFFSET - offset, offset + len(data)  # offsets in the original
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


def run_pair(damage: str | None):
    """Rank 0 here, rank 1 in a child; rank 0 dials rank 1 through the proxy.
    Returns (rank 0's sum or error, rank 1's report, whether the proxy damaged a byte)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child_end = ctx.Pipe()
    secret = new_job_secret()
    child = ctx.Process(target=all_reduce_once_via_pipe, args=(child_end, secret, LENGTH))
    child.start()
    proxy = None
    try:
        assert parent.poll(60), "rank 1 did not start"
        real = [None, (LOOPBACK, parent.recv())]
        listener = open_listener(LOOPBACK)
        real[0] = listener.getsockname()
        proxy = Proxy(real[1], damage)
        parent.send(real)
        config = loopback_config(op_timeout=20.0, transport="socket", topology="flat")
        mine: object
        try:
            with Communicator(
                Member(0, 2), [real[0], proxy.address], secret, listener, config
            ) as c:
                buf = np.ones(LENGTH, dtype=np.float32)
                c.all_reduce(buf)
                mine = (float(buf.min()), float(buf.max()))
        except CommunicationError as exc:
            mine = exc
        assert parent.poll(60), "rank 1 did not report"
        return mine, parent.recv(), proxy.damaged
    finally:
        if proxy is not None:
            proxy.close()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()


def test_an_undamaged_stream_through_the_proxy_sums_exactly():
    mine, theirs, damaged = run_pair(None)
    assert (mine, theirs, damaged) == ((3.0, 3.0), ("ok", 3.0, 3.0), False)


@pytest.mark.parametrize("damage", ["flip", "drop"])
def test_a_damaged_payload_raises_frame_error_on_the_receiver(damage):
    mine, theirs, damaged = run_pair(damage)
    assert damaged
    assert theirs[0] == "FrameError", theirs
    assert "do not match its CRC-32" in theirs[1]
    assert "rank 0" in theirs[1] and "reduce-scatter segment" in theirs[1]
    assert isinstance(mine, CommunicationError)  # rank 0's ring broke with it
