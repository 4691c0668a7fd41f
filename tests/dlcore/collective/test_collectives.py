"""Property tests of the collectives on both transports: world sizes 1-8, any length incl. 0.

Integer-valued float32 inputs make every sum exact, so results are compared with
`array_equal`, not a tolerance. The socket groups use 64-byte chunks, so even short
vectors travel in several pipelined chunks per ring step; the shm groups are thread
ranks of this process, which are co-located too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlcore.collective import LocalGroup, loopback_config, start_threads
from dlcore.collective.collectives import RingHooks
from dlcore.params import shard_bounds
from tests.dlcore.collective.conftest import TRANSPORTS

PROPERTY = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
world_sizes = st.integers(min_value=1, max_value=8)
lengths = st.one_of(st.integers(0, 9), st.integers(10, 400))
seeds = st.integers(0, 2**32 - 1)
each_transport = pytest.mark.parametrize("transport", TRANSPORTS)


def integer_vectors(world_size: int, length: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-1000, 1000, length).astype(np.float32) for _ in range(world_size)]


@each_transport
@PROPERTY
@given(world_size=world_sizes, length=lengths, seed=seeds)
def test_all_reduce_is_the_exact_sum_on_every_rank(groups, transport, world_size, length, seed):
    inputs = integer_vectors(world_size, length, seed)
    expected = np.sum(inputs, axis=0, dtype=np.float64).astype(np.float32)
    bufs = [x.copy() for x in inputs]
    results = groups.get(world_size, transport).run(lambda comm: comm.all_reduce(bufs[comm.rank]))
    for rank, result in enumerate(results):
        assert result is bufs[rank]  # in place
        np.testing.assert_array_equal(result, expected)


@each_transport
@PROPERTY
@given(world_size=world_sizes, length=lengths, seed=seeds)
def test_reduce_scatter_leaves_each_rank_its_own_shard_bounds_slice(
    groups, transport, world_size, length, seed
):
    inputs = integer_vectors(world_size, length, seed)
    expected = np.sum(inputs, axis=0, dtype=np.float64).astype(np.float32)
    bufs = [x.copy() for x in inputs]
    views = groups.get(world_size, transport).run(lambda comm: comm.reduce_scatter(bufs[comm.rank]))
    for rank, view in enumerate(views):
        start, stop = shard_bounds(length, world_size, rank)
        assert view.size == stop - start
        assert view.size == 0 or np.shares_memory(view, bufs[rank][start:stop])
        np.testing.assert_array_equal(view, expected[start:stop])


@each_transport
@PROPERTY
@given(world_size=world_sizes, length=lengths, seed=seeds)
def test_all_gather_assembles_every_ranks_own_slice(groups, transport, world_size, length, seed):
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal(length).astype(np.float32)  # copies are exact, any values
    bufs = []
    for rank in range(world_size):
        buf = np.full(length, np.nan, dtype=np.float32)  # junk outside the own slice
        start, stop = shard_bounds(length, world_size, rank)
        buf[start:stop] = truth[start:stop]
        bufs.append(buf)
    groups.get(world_size, transport).run(lambda comm: comm.all_gather(bufs[comm.rank]))
    for buf in bufs:
        np.testing.assert_array_equal(buf, truth)


@each_transport
@PROPERTY
@given(world_size=world_sizes, root=st.integers(0, 7), length=lengths, seed=seeds)
def test_broadcast_copies_the_roots_vector_exactly(
    groups, transport, world_size, root, length, seed
):
    root %= world_size
    rng = np.random.default_rng(seed)
    bufs = [rng.standard_normal(length).astype(np.float32) for _ in range(world_size)]
    expected = bufs[root].copy()
    groups.get(world_size, transport).run(lambda comm: comm.broadcast(bufs[comm.rank], root))
    for buf in bufs:
        np.testing.assert_array_equal(buf, expected)


SPECIAL_BITS = [0x80000000, 0x00000000, 0x00000001, 0x80000001, 0x7F800000, 0xFF800000,
                0xFFC00001, 0x7FC12345, 0x3F800000]  # fmt: skip


@each_transport
@pytest.mark.parametrize(("world_size", "root"), [(2, 0), (3, 1), (5, 4)])
def test_broadcast_keeps_every_bit_of_the_roots_vector(groups, transport, world_size, root):
    """-0.0 stays -0.0, denormals, infinities and NaN payloads arrive unchanged, on the root
    too: on b35dc707 the socket transport added +0.0 from the other ranks, and -0.0 + 0.0
    is +0.0 (shared memory copied the bits)."""
    data = np.array(SPECIAL_BITS, dtype=np.uint32).view(np.float32)
    bufs = [data.copy() if r == root else np.full(data.size, 7.0, np.float32)
            for r in range(world_size)]  # fmt: skip
    groups.get(world_size, transport).run(lambda comm: comm.broadcast(bufs[comm.rank], root))
    for buf in bufs:
        assert buf.view(np.uint32).tolist() == SPECIAL_BITS


@each_transport
@PROPERTY
@given(world_size=world_sizes, size=st.integers(0, 40), seed=seeds)
def test_all_reduce_small_is_bit_identical_on_every_rank(groups, transport, world_size, size, seed):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal((size,)) * 10.0 ** rng.integers(-5, 5) for _ in range(world_size)]
    results = groups.get(world_size, transport).run(
        lambda comm: comm.all_reduce_small(values[comm.rank])
    )
    for result in results:
        assert result.dtype == np.float64 and result.shape == (size,)
        assert result.tobytes() == results[0].tobytes()
    for i in range(size):
        exact = math.fsum(v[i] for v in values)
        scale = sum(abs(v[i]) for v in values)
        assert abs(results[0][i] - exact) <= 8 * np.finfo(np.float64).eps * scale


@each_transport
def test_all_reduce_small_keeps_the_shape(groups, transport):
    results = groups.get(3, transport).run(
        lambda comm: comm.all_reduce_small(np.full((2, 2), comm.rank + 1.0))
    )
    np.testing.assert_array_equal(results[2], np.full((2, 2), 6.0))


@each_transport
def test_barrier_and_many_calls_in_a_row(groups, transport):
    group = groups.get(4, transport)

    def many(comm):
        buf = np.zeros(50, dtype=np.float32)
        for i in range(20):
            buf[:] = comm.rank + i
            comm.all_reduce(buf)
            comm.barrier()
        return buf

    for buf in group.run(many):
        np.testing.assert_array_equal(buf, np.full(50, 0 + 1 + 2 + 3 + 4 * 19))


@each_transport
def test_default_chunking_of_a_vector_larger_than_one_chunk(transport):
    length = (1 << 20) // 4 * 3 + 7  # 3 segments of one full 1 MiB chunk + a partial one
    inputs = integer_vectors(3, length, seed=1)
    expected = np.sum(inputs, axis=0, dtype=np.float64).astype(np.float32)
    config = loopback_config(transport=transport)
    results = start_threads(3, lambda comm: comm.all_reduce(inputs[comm.rank].copy()), config)
    for result in results:
        np.testing.assert_array_equal(result, expected)


LENGTHS = [0, 1, 3, 400, 17_000, 5, 70_001, 2, 17_000, 0, 123_457, 9]


def _mixed_calls(comm) -> int:
    """all_reduce, reduce_scatter, all_gather, broadcast in turn on changing lengths."""
    n, r = comm.world_size, comm.rank
    for i, length in enumerate(LENGTHS * 2):
        base = np.arange(length, dtype=np.float32) % 1000
        buf = base * (r + 1) + i
        start, stop = shard_bounds(length, n, r)
        if i % 4 == 0:
            expected = base * (n * (n + 1) // 2) + n * i
            np.testing.assert_array_equal(comm.all_reduce(buf), expected)
        elif i % 4 == 1:
            expected = base * (n * (n + 1) // 2) + n * i
            np.testing.assert_array_equal(comm.reduce_scatter(buf), expected[start:stop])
        elif i % 4 == 2:
            buf[:] = np.nan
            buf[start:stop] = base[start:stop] + i
            np.testing.assert_array_equal(comm.all_gather(buf), base + i)
        else:
            root = i % n
            np.testing.assert_array_equal(comm.broadcast(buf, root), base * (root + 1) + i)
    return len(LENGTHS) * 2


@each_transport
def test_a_long_mixed_sequence_of_calls_and_lengths_stays_exact(transport):
    # On shm consecutive calls alternate slots (no trailing barrier) and the segments grow
    # with the buffer; a rank that ran ahead into a slot still being read would show here.
    with LocalGroup(4, loopback_config(transport=transport)) as group:
        assert group.run(_mixed_calls) == [len(LENGTHS) * 2] * 4
        assert {comm.transport for comm in group.comms} == {transport}


@PROPERTY
@given(world_size=st.integers(2, 5), length=lengths, seed=seeds)
def test_the_started_hook_runs_once_after_the_first_chunk_is_queued(
    groups, world_size, length, seed
):
    inputs = integer_vectors(world_size, length, seed)
    expected = np.sum(inputs, axis=0, dtype=np.float64).astype(np.float32)

    def call(comm, name: str):
        log: list[str] = []
        hooks = RingHooks(
            fill=lambda a, b: log.append("fill"),
            final=lambda a, b: log.append("final"),
            started=lambda: log.append("started"),
        )
        buf = inputs[comm.rank].copy()
        getattr(comm._transport, name)(buf, hooks=hooks)
        return log, buf

    group = groups.get(world_size, "socket")
    for name in ("all_reduce", "reduce_scatter"):
        results = group.run(lambda comm, name=name: call(comm, name))
        for rank, (log, buf) in enumerate(results):
            assert log.count("started") == 1
            first = shard_bounds(length, world_size, (rank - 1) % world_size)
            before = ["fill"] if first[1] > first[0] else []  # the first chunk of step 0
            assert log[: log.index("started")] == before, (name, log)
            start, stop = (
                (0, length) if name == "all_reduce" else shard_bounds(length, world_size, rank)
            )
            np.testing.assert_array_equal(buf[start:stop], expected[start:stop])
    for rank, (log, _) in enumerate(group.run(lambda comm: call(comm, "all_gather"))):
        own = shard_bounds(length, world_size, rank)
        chunks = -(-(own[1] - own[0]) // 16)  # 64-byte chunks: fill puts the own segment
        assert log.count("started") == 1 and log.count("fill") == chunks
        assert log.index("started") == min(1, chunks)
        if "final" in log and chunks:  # every own chunk is queued before the first arrival
            assert log.index("final") > max(i for i, e in enumerate(log) if e == "fill")
