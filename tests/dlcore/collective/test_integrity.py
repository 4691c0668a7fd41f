"""Bytes damaged on the wire between two processes are detected, never summed in.

Rank 1 is a real process ('spawn'); rank 0 reaches it through a TCP proxy thread that
forwards the stream faithfully except for one byte far into the tensor data (after
the authenticated handshake): flipped, or dropped (a truncated payload). The CRC-32
trailer of every ring chunk (wire.py) must turn either into FrameError on the rank
that received it, before the bytes are reduced into its buffer.
"""

from __future__ import annotations

import pytest

from dlcore.errors import CommunicationError
from tests.dlcore.collective._middlebox import all_reduce_through
from tests.dlcore.collective._proxy import Proxy

LENGTH = 1 << 20  # 4 MiB: 2 MiB segments of 1 MiB chunks each way
OFFSET = (1 << 20) + 777  # stream offset of the damaged byte: inside a REDUCE payload


def run_pair(damage: str | None):
    """(rank 0's sum or error, rank 1's report, whether the proxy damaged a byte)."""
    mine, theirs, proxy = all_reduce_through(
        lambda target: Proxy(target, damage, OFFSET), LENGTH, op_timeout=20.0
    )
    return mine, theirs, proxy.damaged


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
