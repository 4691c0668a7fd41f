"""A rank in another PROCESS dies or freezes mid-all-reduce: the survivors must raise, not hang.

The victim is a real process ('spawn'), so its sockets die with it the way they do
when a Spark executor is lost. Survivors are threads of the test process. Both
transports: on shm the data is in shared memory but every wait is on the ring
sockets, and every segment file was unlinked at setup, so a killed rank leaks none.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from dlcore.collective import Communicator, Member, RendezvousServer, loopback_config
from dlcore.errors import CommunicationError, PeerTimeoutError
from tests.dlcore.collective._workers import all_reduce_forever
from tests.dlcore.collective.conftest import TRANSPORTS

LENGTH = 1 << 18  # 1 MiB per rank: each all-reduce is several chunks long


@dataclass
class Survivor:
    rank: int
    transport: str
    shm_dir: str
    rounds_done: int = 0
    error: BaseException | None = None
    warmed_up: threading.Event = field(default_factory=threading.Event)


def survive(server_address, secret, survivor: Survivor, world_size: int, op_timeout: float):
    config = loopback_config(
        op_timeout=op_timeout, transport=survivor.transport, shm_dir=survivor.shm_dir
    )
    try:
        member = Member(survivor.rank, world_size)
        with Communicator.join(server_address, secret, member, config) as comm:
            assert comm.transport == survivor.transport
            buf = np.ones(LENGTH, dtype=np.float32)
            while True:
                comm.all_reduce(buf)
                assert buf[0] == world_size
                buf.fill(1.0)
                survivor.rounds_done += 1
                if survivor.rounds_done == 3:
                    survivor.warmed_up.set()
    except BaseException as exc:
        survivor.error = exc
        survivor.warmed_up.set()


@pytest.fixture
def spawn() -> Iterator[multiprocessing.context.SpawnContext]:
    ctx = multiprocessing.get_context("spawn")
    yield ctx
    for child in multiprocessing.active_children():
        child.kill()
        child.join(timeout=10)


def start_group(spawn, secret, world_size: int, op_timeout: float, transport: str, shm_dir: str):
    """Ranks 0..n-2 as threads here, rank n-1 as a separate process looping all-reduces."""
    server = RendezvousServer(secret, world_size, host="127.0.0.1")
    victim = spawn.Process(
        target=all_reduce_forever,
        args=(server.address, secret, world_size - 1, world_size, LENGTH, 60.0, transport, shm_dir),
        daemon=True,
    )
    victim.start()
    survivors = [Survivor(rank, transport, shm_dir) for rank in range(world_size - 1)]
    threads = [
        threading.Thread(
            target=survive, args=(server.address, secret, s, world_size, op_timeout), daemon=True
        )
        for s in survivors
    ]
    for t in threads:
        t.start()
    for s in survivors:  # bounded: spawning a Python child takes about a second
        assert s.warmed_up.wait(timeout=60), "the group never completed 3 all-reduces"
        assert s.error is None, s.error
    return server, victim, survivors, threads


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_survivors_raise_when_a_peer_process_is_killed_mid_all_reduce(
    spawn, secret, transport, shm_dir
):
    op_timeout = 20.0
    server, victim, survivors, threads = start_group(
        spawn, secret, 3, op_timeout, transport, shm_dir
    )
    try:
        assert os.listdir(shm_dir) == []  # unlinked as soon as every rank had mapped them
        os.kill(victim.pid, signal.SIGKILL)
        for t in threads:
            t.join(timeout=op_timeout + 10)
        assert not any(t.is_alive() for t in threads), "a survivor hung"
        for s in survivors:
            assert isinstance(s.error, CommunicationError), s.error
        # The killed rank's neighbours see the dead sockets directly (no timeout needed);
        # the failure then travels around the ring by the survivors shutting theirs.
        messages = " | ".join(str(s.error) for s in survivors)
        assert "rank 2" in messages
        assert os.listdir(shm_dir) == []
    finally:
        victim.kill()
        victim.join(timeout=10)
        server.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_survivor_times_out_when_a_peer_process_freezes(spawn, secret, transport, shm_dir):
    op_timeout = 1.0
    server, victim, survivors, threads = start_group(
        spawn, secret, 2, op_timeout, transport, shm_dir
    )
    try:
        os.kill(victim.pid, signal.SIGSTOP)  # alive, sockets open, but silent
        for t in threads:
            t.join(timeout=op_timeout + 20)
        assert not any(t.is_alive() for t in threads), "the survivor hung"
        error = survivors[0].error
        assert isinstance(error, PeerTimeoutError), error
        assert "all_reduce" in str(error) and "rank 1" in str(error)
    finally:
        victim.kill()  # SIGKILL also ends a stopped process
        victim.join(timeout=10)
        server.close()
