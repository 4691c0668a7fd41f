"""Two ranks with a middlebox between them: rank 0 in the test's process, rank 1 a real
'spawn' child (`_workers.all_reduce_once_via_pipe`), rank 0 dialling rank 1 through a
proxy thread the test chooses (`_proxy.Proxy` damages a byte, `_link.SlowLink` limits the
rate or stops forwarding). Shared by test_integrity.py and test_slow_links.py."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import numpy as np

from dlcore.collective import Communicator, Member, loopback_config, new_job_secret
from dlcore.collective.wire import open_listener
from dlcore.errors import CommunicationError
from tests.dlcore.collective._workers import all_reduce_once_via_pipe

LOOPBACK = "127.0.0.1"


def all_reduce_through(
    middlebox: Callable[[tuple[str, int]], Any], length: int, op_timeout: float
) -> tuple[object, tuple, Any]:
    """One all-reduce of `length` ones (rank 0) and twos (rank 1), rank 0 reaching rank 1
    through `middlebox(rank 1's address)` (an object with `.address` and `.close()`).
    Returns (rank 0's (min, max) or its CommunicationError, rank 1's report, the box, closed)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child_end = ctx.Pipe()
    secret = new_job_secret()
    child = ctx.Process(
        target=all_reduce_once_via_pipe, args=(child_end, secret, length, op_timeout)
    )
    child.start()
    box = None
    try:
        assert parent.poll(60), "rank 1 did not start"
        real = [None, (LOOPBACK, parent.recv())]
        listener = open_listener(LOOPBACK)
        real[0] = listener.getsockname()
        box = middlebox(real[1])
        parent.send(real)
        config = loopback_config(op_timeout=op_timeout, transport="socket", topology="flat")
        mine: object
        try:
            with Communicator(Member(0, 2), [real[0], box.address], secret, listener, config) as c:
                buf = np.ones(length, dtype=np.float32)
                c.all_reduce(buf)
                mine = (float(buf.min()), float(buf.max()))
        except CommunicationError as exc:
            mine = exc
        assert parent.poll(60), "rank 1 did not report"
        return mine, parent.recv(), box
    finally:
        if box is not None:
            box.close()
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
