"""Entry points for ranks that run in separate processes (multiprocessing 'spawn').

Top-level functions of an importable module, so a spawned child can find them.
"""

from __future__ import annotations

import os
import signal

import numpy as np

from dlcore.collective import Communicator, Member, loopback_config


def all_reduce_forever(
    address, secret, rank, world_size, length, op_timeout, transport="auto", shm_dir=None
) -> None:
    """Join the group and all-reduce until the group breaks (or the process is killed)."""
    config = loopback_config(op_timeout=op_timeout, transport=transport, shm_dir=shm_dir)
    with Communicator.join(tuple(address), secret, Member(rank, world_size), config) as comm:
        buf = np.ones(length, dtype=np.float32)
        while True:
            comm.all_reduce(buf)
            buf.fill(1.0)


def all_reduce_forever_on_host(
    address, secret, rank, world_size, length, op_timeout, host_key, topology="auto"
) -> None:
    """all_reduce_forever, pretending to run on the host `host_key` (hierarchical tests)."""
    config = loopback_config(op_timeout=op_timeout, host_key=host_key, topology=topology)
    with Communicator.join(tuple(address), secret, Member(rank, world_size), config) as comm:
        buf = np.ones(length, dtype=np.float32)
        while True:
            comm.all_reduce(buf)
            buf.fill(1.0)


def all_reduce_once_via_pipe(conn, secret, length, op_timeout=20.0) -> None:
    """Rank 1 of 2 over a peer table the parent sends (so the parent can put a proxy in
    rank 0's table); sends back ("ok", min, max) of the sum, or (error class, message)."""
    from dlcore.collective.wire import open_listener

    listener = open_listener("127.0.0.1")
    conn.send(listener.getsockname()[1])
    peers = conn.recv()
    config = loopback_config(op_timeout=op_timeout, transport="socket", topology="flat")
    try:
        with Communicator(Member(1, 2), peers, secret, listener, config) as comm:
            buf = np.full(length, 2.0, dtype=np.float32)
            comm.all_reduce(buf)
            conn.send(("ok", float(buf.min()), float(buf.max())))
    except Exception as exc:  # the test inspects it
        conn.send((type(exc).__name__, str(exc)))


def create_segments_and_die(directory: str, count: int) -> None:
    """Create `count` shared-memory segments, then die the way SIGKILL ends a rank in the
    middle of the shm negotiation: no unlink, no cleanup of any kind."""
    from dlcore.collective.segment import Segment

    segments = [Segment.create(directory, 64 << 10) for _ in range(count)]
    assert len(os.listdir(directory)) >= len(segments)
    os.kill(os.getpid(), signal.SIGKILL)
