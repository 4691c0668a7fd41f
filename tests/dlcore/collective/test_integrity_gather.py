"""A gathered chunk damaged on ANY hop of the all-gather is caught by the rank it reaches.

In the ring's all-gather a rank forwards each received chunk unchanged, with the CRC-32
trailer it arrived with (verified once, not recomputed: wire.py). So the check must
still hold on the second hop: three ranks (threads, each with its own sockets), the
link into rank `k` runs through a TCP proxy that flips one byte inside the payload of a
given ring step. Step 3 of 4 carries chunks straight from their owner, step 4 of 4
chunks the sender forwards. And because the forwarded trailer is the owner's, bytes the
forwarder damages itself after checking them (a memory fault) are caught downstream too,
which a recomputed trailer would hide.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dlcore.collective import Communicator, LocalGroup, Member, loopback_config, new_job_secret
from dlcore.collective.wire import open_listener
from dlcore.errors import CommunicationError, FrameError
from tests.dlcore.collective._proxy import LOOPBACK, Proxy

WORLD = 3
SEGMENT = 1 << 18  # floats: 1 MiB segments, one chunk each (chunk_bytes = 1 MiB)
FRAME = 20 + (SEGMENT * 4) + 4  # header + payload + CRC-32 trailer of one ring step


def payload_middle(step: int) -> int:
    """Stream offset of the middle of ring step `step`'s payload (1-based), ignoring the
    handshake before it (a few hundred bytes, far less than the half payload of margin)."""
    return (step - 1) * FRAME + 20 + SEGMENT * 2


def run_ring(into: int, step: int, damage: str | None):
    """One all-reduce of 3 ranks (rank r adds r + 1); the link into rank `into` runs
    through a proxy damaging step `step`. Returns (result or error per rank, damaged)."""
    secret = new_job_secret()
    listeners = [open_listener(LOOPBACK) for _ in range(WORLD)]
    peers = [s.getsockname() for s in listeners]
    proxy = Proxy(peers[into], damage, payload_middle(step))
    config = loopback_config(op_timeout=20.0, transport="socket", topology="flat")
    results: list[object] = [None] * WORLD

    def rank(r: int) -> None:
        table = list(peers)
        if (r + 1) % WORLD == into:
            table[into] = proxy.address
        try:
            with Communicator(Member(r, WORLD), table, secret, listeners[r], config) as comm:
                buf = np.full(WORLD * SEGMENT, r + 1.0, dtype=np.float32)
                comm.all_reduce(buf)
                results[r] = (float(buf.min()), float(buf.max()))
        except CommunicationError as exc:
            results[r] = exc

    threads = [threading.Thread(target=rank, args=(r,), daemon=True) for r in range(WORLD)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a rank did not finish"
    finally:
        proxy.close()
    return results, proxy.damaged


def test_an_undamaged_ring_of_three_through_the_proxy_sums_exactly():
    results, damaged = run_ring(into=2, step=4, damage=None)
    assert (results, damaged) == ([(6.0, 6.0)] * WORLD, False)


@pytest.mark.parametrize(
    ("into", "step"),
    [(0, 4), (1, 4), (2, 4), (2, 3)],
    ids=["forwarded-into-0", "forwarded-into-1", "forwarded-into-2", "from-owner-into-2"],
)
def test_a_flipped_byte_in_a_gathered_chunk_is_caught_by_its_receiver(into, step):
    results, damaged = run_ring(into, step, "flip")
    assert damaged
    caught = results[into]
    assert isinstance(caught, FrameError), results
    assert "do not match its CRC-32" in str(caught)
    sender = (into - 1) % WORLD
    assert f"rank {sender}" in str(caught) and f"ring step {step} of 4" in str(caught)
    assert "all-gather segment" in str(caught)
    # The others end exact (their chunks were whole) or with the ring broken; none wrong.
    assert all(r == (6.0, 6.0) or isinstance(r, CommunicationError) for r in results), results
    if step == 3:  # the damaged chunk is never forwarded: the next rank cannot finish
        assert isinstance(results[(into + 1) % WORLD], CommunicationError), results


class CorruptingForwarder:
    """Rank 1's sender: flips a byte of every chunk it forwards unchanged (a `crc` is
    given), after rank 1 verified it: a memory fault between the check and the send."""

    def __init__(self, put) -> None:
        self.put, self.corrupted = put, 0

    def __call__(self, data, deadline, what, checked=False, crc=None):
        if checked and crc is not None:
            damaged = bytearray(data)
            damaged[len(damaged) // 2] ^= 0x01
            data, self.corrupted = memoryview(damaged), self.corrupted + 1
        self.put(data, deadline, what, checked, crc)


def test_bytes_the_forwarder_damages_after_its_check_are_caught_downstream():
    config = loopback_config(op_timeout=20.0, transport="socket", topology="flat")
    with LocalGroup(WORLD, config) as group:
        sender = group.comms[1].sender
        fault = sender.put = CorruptingForwarder(sender.put)
        bufs = [np.full(WORLD * SEGMENT, r + 1.0, dtype=np.float32) for r in range(WORLD)]
        with pytest.raises(FrameError, match=r"rank 1 .*all-gather segment.*CRC-32"):
            group.run(lambda comm: comm.all_reduce(bufs[comm.rank]))
    assert fault.corrupted >= 1


@pytest.mark.parametrize("world", [2, 3, 4])
def test_each_byte_is_checksummed_once_where_it_is_sent_from_and_once_where_it_arrives(
    world, monkeypatch
):
    """A rank checksums what it receives (2(n-1)/n S) and what it originates: its input
    segments and partial sums in the reduce-scatter, its own sum at the start of the
    all-gather ((n-1)/n S + S/n); a forwarded gathered chunk costs nothing. All ranks:
    (3n - 2) S, where recomputing the forwarded trailers took 4(n-1) S."""
    from dlcore.collective import checksum

    config = loopback_config(op_timeout=20.0, transport="socket", topology="flat")
    nbytes = world * 4096 * 4
    with LocalGroup(world, config) as group:
        counted, lock, crc32 = [0], threading.Lock(), checksum.crc32

        def counting(data):
            with lock:
                counted[0] += memoryview(data).nbytes
            return crc32(data)

        monkeypatch.setattr(checksum, "crc32", counting)
        bufs = [np.full(nbytes // 4, r + 1.0, dtype=np.float32) for r in range(world)]
        group.run(lambda comm: comm.all_reduce(bufs[comm.rank]))
        ring, counted[0] = counted[0], 0
        # all_reduce_small passes each rank's values around whole: one CRC per value array
        # where it starts, one per hop where it arrives, none to forward it.
        small = group.run(lambda comm: comm.all_reduce_small(np.full(3, comm.rank + 1.0)))
    assert all((b == world * (world + 1) / 2).all() for b in bufs)
    assert ring == (3 * world - 2) * nbytes
    assert [s.tolist() for s in small] == [[world * (world + 1) / 2] * 3] * world
    assert counted[0] == world * world * 3 * 8
