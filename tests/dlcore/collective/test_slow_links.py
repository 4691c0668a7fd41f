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

import numpy as np
import pytest

from dlcore.collective import Communicator, Member, loopback_config, new_job_secret
from dlcore.collective.wire import open_listener
from dlcore.errors import CommunicationError
from tests.dlcore.collective._link import LOOPBACK, SlowLink
from tests.dlcore.collective._workers import all_reduce_once_via_pipe

LENGTH = 1 << 19  # 2 MiB: rank 0 sends 2 x 1 MiB through the link
RATE = 512 << 10  # bytes/s: ~4 s of transfer
OP_TIMEOUT = 1.5  # s: well under the transfer's time, well over a gap between two pieces


def run_pair(stall_after: int | None):
    """Rank 0 here, rank 1 in a child; rank 0 reaches rank 1 through a SlowLink.
    Returns (rank 0's (min, max) or error, rank 1's report, the link)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child_end = ctx.Pipe()
    secret = new_job_secret()
    child = ctx.Process(
        target=all_reduce_once_via_pipe, args=(child_end, secret, LENGTH, OP_TIMEOUT)
    )
    child.start()
    link = None
    try:
        assert parent.poll(60), "rank 1 did not start"
        real = [None, (LOOPBACK, parent.recv())]
        listener = open_listener(LOOPBACK)
        real[0] = listener.getsockname()
        link = SlowLink(real[1], RATE, stall_after)
        parent.send(real)
        config = loopback_config(op_timeout=OP_TIMEOUT, transport="socket", topology="flat")
        mine: object
        try:
            with Communicator(Member(0, 2), [real[0], link.address], secret, listener, config) as c:
                buf = np.ones(LENGTH, dtype=np.float32)
                c.all_reduce(buf)
                mine = (float(buf.min()), float(buf.max()))
        except CommunicationError as exc:
            mine = exc
        assert parent.poll(60), "rank 1 did not report"
        return mine, parent.recv(), link
    finally:
        if link is not None:
            link.close()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()


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
