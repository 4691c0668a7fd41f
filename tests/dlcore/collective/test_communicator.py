"""Ring setup, authentication of peer connections, and misuse that must fail fast."""

from __future__ import annotations

import logging
import socket
import threading

import numpy as np
import pytest

from dlcore.collective import Communicator, LocalGroup, Member, loopback_config, new_job_secret
from dlcore.collective.auth import authenticate_client
from dlcore.collective.local import start_threads
from dlcore.collective.wire import Deadline, open_listener
from dlcore.errors import (
    AuthenticationError,
    CommunicationError,
    ConfigError,
    FrameError,
    PeerTimeoutError,
    ShapeError,
)
from tests.dlcore.collective.conftest import TRANSPORTS

each_transport = pytest.mark.parametrize("transport", TRANSPORTS)


def test_world_size_one_needs_no_sockets_and_every_collective_is_a_no_op(secret):
    with Communicator(Member(0, 1), [("unused", 0)], secret, None) as comm:
        buf = np.arange(5, dtype=np.float32)
        assert comm.all_reduce(buf) is buf
        np.testing.assert_array_equal(comm.reduce_scatter(buf), np.arange(5))
        comm.all_gather(buf)
        comm.barrier()
        np.testing.assert_array_equal(comm.all_reduce_small([1.5, 2.0]), [1.5, 2.0])
        np.testing.assert_array_equal(buf, np.arange(5))


def _build_ring_with_an_intruder(secret, intruder_secret, intruder_identity):
    """Rank 0's port is reached first by an intruder; once it was answered, rank 1 joins.

    Rank 0's port authenticates connections in parallel, so rank 1 waits for the intruder's
    answer: a ring formed meanwhile would cut the intruder off before its refusal.
    Returns the intruder's exception and the two communicators (None where it failed).
    """
    listeners = [open_listener("127.0.0.1") for _ in range(2)]
    peers = [s.getsockname() for s in listeners]
    intruder = socket.create_connection(peers[0])  # queued before rank 1's connection
    outcome: list[BaseException] = []

    def intrude() -> None:
        try:
            authenticate_client(
                intruder, intruder_secret, intruder_identity, Deadline.after(10), "rank 0"
            )
        except CommunicationError as exc:
            outcome.append(exc)

    comms: list[Communicator | None] = [None, None]

    def build(rank: int) -> None:
        comms[rank] = Communicator(
            Member(rank, 2), peers, secret, listeners[rank], loopback_config()
        )

    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in
               ((intrude, ()), (build, (0,)), (build, (1,)))]  # fmt: skip
    for t in threads[:2]:
        t.start()
    threads[0].join(timeout=20)
    threads[2].start()
    for t in threads:
        t.join(timeout=20)
    intruder.close()
    return (outcome[0] if outcome else None), comms


RING = {"purpose": "ring", "rank": 1, "world_size": 2, "round_id": 0}


@pytest.mark.parametrize(
    ("use_job_secret", "identity", "reason"),
    [
        (False, RING, "wrong job secret"),
        (True, {**RING, "round_id": 7}, "accepts only"),  # a stale worker of an older round
        (True, {**RING, "rank": 0}, "accepts only"),  # not rank 0's left neighbour
    ],
)
def test_ring_setup_refuses_intruders_logs_them_and_still_forms(
    secret, caplog, use_job_secret, identity, reason
):
    intruder_secret = secret if use_job_secret else new_job_secret()
    with caplog.at_level(logging.WARNING, logger="dlcore.collective.auth"):
        error, comms = _build_ring_with_an_intruder(secret, intruder_secret, identity)
    try:
        assert isinstance(error, AuthenticationError) and reason in str(error)
        assert "refused connection from 127.0.0.1" in caplog.text and reason in caplog.text
        assert comms[0] is not None and comms[1] is not None
        results = [None, None]

        def reduce(rank: int) -> None:
            results[rank] = comms[rank].all_reduce(np.full(3, rank + 1, dtype=np.float32))

        workers = [threading.Thread(target=reduce, args=(r,), daemon=True) for r in range(2)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=20)
        np.testing.assert_array_equal(results[0], [3, 3, 3])
        np.testing.assert_array_equal(results[1], [3, 3, 3])
    finally:
        for c in comms:
            if c is not None:
                c.close()


@each_transport
def test_a_rank_that_skips_a_collective_makes_the_other_time_out(secret, transport):
    config = loopback_config(op_timeout=0.3, transport=transport)

    def only_rank_0(comm: Communicator) -> None:
        if comm.rank == 0:
            comm.all_reduce(np.ones(4, dtype=np.float32))

    with pytest.raises(PeerTimeoutError, match=r"all_reduce.*from rank 1"):
        start_threads(2, only_rank_0, config)


@each_transport
def test_mismatched_collectives_fail_on_every_rank_instead_of_hanging(transport):
    with LocalGroup(3, loopback_config(transport=transport)) as group:

        def confused(comm: Communicator) -> None:
            if comm.rank == 1:
                comm.barrier()
            else:
                comm.all_reduce(np.ones(8, dtype=np.float32))

        with pytest.raises(FrameError, match="same collectives in the same order"):
            group.run(confused)
        with pytest.raises(CommunicationError, match="communicator is broken"):
            group.comms[0].barrier()


@each_transport
def test_mismatched_buffer_lengths_are_reported(transport):
    group = LocalGroup(2, loopback_config(transport=transport))
    with group, pytest.raises(FrameError, match="same length"):
        group.run(lambda comm: comm.all_reduce(np.ones(4 + comm.rank, dtype=np.float32)))


@each_transport
def test_a_closed_communicator_refuses_work(transport):
    group = LocalGroup(2, loopback_config(transport=transport))
    group.close()
    with pytest.raises(CommunicationError, match="communicator is closed"):
        group.comms[0].all_reduce(np.ones(2, dtype=np.float32))


def test_buffers_must_be_flat_contiguous_float32(secret):
    with Communicator(Member(0, 1), [("unused", 0)], secret, None) as comm:
        with pytest.raises(ShapeError, match="flat float32"):
            comm.all_reduce(np.ones(3))
        with pytest.raises(ShapeError, match="flat float32"):
            comm.all_reduce(np.ones((2, 2), dtype=np.float32))
        with pytest.raises(ShapeError, match="contiguous"):
            comm.all_reduce(np.ones(8, dtype=np.float32)[::2])
        with pytest.raises(ConfigError, match="unknown compression 'int8'"):
            comm.all_reduce(np.ones(3, dtype=np.float32), compression="int8")
        with pytest.raises(ShapeError, match="at most 8192"):
            comm.all_reduce_small(np.ones(9000))


def test_peer_table_must_match_world_size(secret):
    with pytest.raises(ConfigError, match="one address per rank"):
        Communicator(Member(0, 2), [("h", 1)], secret, None)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="op_timeout must be a finite number"):
        loopback_config(op_timeout=0)
    with pytest.raises(ConfigError, match="chunk_bytes must be an int >= 16"):
        loopback_config(chunk_bytes=8)
