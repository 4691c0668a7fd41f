"""Entry points for ranks that run in separate processes (multiprocessing 'spawn').

Top-level functions of an importable module, so a spawned child can find them.
"""

from __future__ import annotations

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
