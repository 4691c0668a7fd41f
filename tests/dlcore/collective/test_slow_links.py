"""A slow link that keeps moving is not a stalled peer; a link that stops moving is.

Rank 1 is a real process ('spawn'); rank 0 dials it through `_link.SlowLink`, a proxy
with small buffers that forwards rank 0's stream at a fixed rate, so an all-reduce
takes several times `op_timeout` while bytes move all along. The collective's deadline
measures time without progress (`dlcore.collective.deadline`): the slow all-reduce
finishes with the exact sum; when the same link stops forwarding (both processes alive,
every socket open), both ranks raise PeerTimeoutError naming the silent neighbour.
"""

from __future__ import annotations

import multiprocessing

import pytest

from tests.dlcore.collective._link import LOOPBACK, SlowLink
from tests.dlcore.collective._middlebox import all_reduce_through

LENGTH = 1 << 19  # 2 MiB: rank 0 sends 2 x 1 MiB through the link
RATE = 512 << 10  # bytes/s: ~4 s of transfer
OP_TIMEOUT = 1.5  # s: well under the transfer's time, well over a gap between two pieces


def run_pair(stall_after: int | None):
    """(rank 0's (min, max) or error, rank 1's report, the SlowLink) of one all-reduce."""
    return all_reduce_through(
        lambda target: SlowLink(target, RATE, stall_after), LENGTH, OP_TIMEOUT
    )


def test_a_transfer_slower_than_op_timeout_that_keeps_moving_finishes_exactly():
    mine, theirs, link = run_pair(stall_after=None)
    assert (mine, theirs) == ((3.0, 3.0), ("ok", 3.0, 3.0))
    assert link.forwarded >= LENGTH * 4  # rank 0's 2 x 1 MiB went through the slow link


def test_a_link_that_stops_moving_fails_both_ranks_naming_the_silent_peer():
    mine, theirs, link = run_pair(stall_after=LENGTH)  # half of what rank 0 sends first
    assert link.stalled.is_set()
    outcomes = {0: (type(mine).__name__, str(mine)), 1: tuple(theirs[:2])}
    # Whichever rank's deadline passes first names its silent neighbour and shuts its
    # sockets; the other times out too or hears that it gave up: never a result.
    timed_out = [r for r, (kind, _) in outcomes.items() if kind == "PeerTimeoutError"]
    assert timed_out, outcomes
    assert all(kind in ("PeerTimeoutError", "CommunicationError") for kind, _ in outcomes.values())
    names = {0: f"from rank 1 ({LOOPBACK}:{link.address[1]})", 1: "from rank 0 ("}
    for rank in timed_out:
        message = outcomes[rank][1]
        assert message.startswith(
            f"deadline of {OP_TIMEOUT:g} s passed without progress while waiting for all_reduce"
        ), message
        assert names[rank] in message, message


@pytest.fixture(autouse=True)
def _no_children_left():
    yield
    for child in multiprocessing.active_children():
        child.kill()
        child.join(timeout=10)
