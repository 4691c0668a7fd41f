"""Bytes damaged on the wire between two processes are detected, never summed in.

Rank 1 is a real process ('spawn'); rank 0 reaches it through a TCP proxy thread that
forwards the stream faithfully except for one byte far into the tensor data (after
the authenticated handshake): flipped, or dropped (a truncated payload). The CRC-32
trailer of every ring chunk (wire.py) must turn either into FrameError on the rank
that received it, before the bytes are reduced into its buffer.
"""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from dlcore.collective import Communicator, Member, loopback_config, new_job_secret
from dlcore.collective.wire import open_listener
from dlcore.errors import CommunicationError
from tests.dlcore.collective._proxy import LOOPBACK, Proxy
from tests.dlcore.collective._workers import all_reduce_once_via_pipe

LENGTH = 1 << 20  # 4 MiB: 2 MiB segments of 1 MiB chunks each way
OFFSET = (1 << 20) + 777  # stream offset of the damaged byte: inside a REDUCE payload


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
        proxy = Proxy(real[1], damage, OFFSET)
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
