"""The hierarchical topology: ranks grouped by a fake host key per rank.

Ranks are threads (or, for failures, a process) of this machine with
`CommConfig.host_key` set, so any grouping into "hosts" can be tested: within a fake
host they really share /dev/shm (the local ring uses shared memory), between fake
hosts the lanes are TCP rings on loopback. Integer-valued float32 inputs make every
sum exact, so results are compared bit for bit, as for the flat collectives.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore.collective import (
    CommConfig,
    Communicator,
    Member,
    RendezvousServer,
    ShardedStep,
    loopback_config,
    new_job_secret,
)
from dlcore.collective.hierarchical import group_hosts, plan_layout
from dlcore.collective.shm_regions import input_stages
from dlcore.errors import CommunicationError, ConfigError, PeerTimeoutError
from dlcore.params import shard_bounds
from tests.dlcore.collective._workers import all_reduce_forever_on_host
from tests.dlcore.collective.test_sharded import (
    OPTIMIZERS,
    make_params,
    rank_grads,
    single_process_reference,
)

PROPERTY = settings(max_examples=40, deadline=None)


def join(keys: list[str], secret: bytes | None = None, **overrides) -> list[Communicator]:
    """One thread per rank joins with host key keys[rank]; raises the first failure."""
    n, secret = len(keys), secret or new_job_secret()
    overrides.setdefault("chunk_bytes", 64)
    overrides.setdefault("op_timeout", 20.0)
    with RendezvousServer(secret, n, host="127.0.0.1") as server, ThreadPoolExecutor(n) as pool:
        futures = [
            pool.submit(
                Communicator.join,
                server.address,
                secret,
                Member(r, n),
                loopback_config(host_key=keys[r], **overrides),
            )
            for r in range(n)
        ]
        errors = [f.exception(timeout=60) for f in futures]
    comms = [f.result() for f, e in zip(futures, errors, strict=True) if e is None]
    if any(errors):
        for comm in comms:
            comm.close()
        raise next(e for e in errors if e is not None)
    return comms


def run(comms: list[Communicator], fn: Callable[[Communicator], object]) -> list:
    with ThreadPoolExecutor(len(comms)) as pool:
        futures = [pool.submit(fn, comm) for comm in comms]
        try:
            return [f.result(timeout=60) for f in futures]
        except BaseException:
            for comm in comms:
                comm.abort("another rank of the test failed")
            raise


def expected_transport(keys: list[str]) -> str:
    hosts = group_hosts(keys)  # type: ignore[arg-type]
    if len(keys) == 1:
        return "none"
    if len(hosts) == 1:
        return "shm"
    return "socket" if all(len(h) == 1 for h in hosts) else "hierarchical"


groupings = st.integers(1, 8).flatmap(
    lambda n: st.lists(st.integers(0, n - 1), min_size=n, max_size=n).map(
        lambda hosts: [f"host-{h}" for h in hosts]
    )
)
lengths = st.one_of(st.integers(0, 9), st.integers(10, 300))


@PROPERTY
@given(keys=groupings, length=lengths, seed=st.integers(0, 2**32 - 1))
def test_every_collective_is_exact_for_any_grouping_into_hosts(keys, length, seed):
    n = len(keys)
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(-1000, 1000, length).astype(np.float32) for _ in range(n)]
    total = np.sum(inputs, axis=0, dtype=np.float64).astype(np.float32)
    comms = join(keys)
    try:
        assert [c.transport for c in comms] == [expected_transport(keys)] * n
        bufs = [x.copy() for x in inputs]
        for rank, result in enumerate(run(comms, lambda c: c.all_reduce(bufs[c.rank]))):
            assert result is bufs[rank]
            assert result.tobytes() == total.tobytes()
        bufs = [x.copy() for x in inputs]
        for rank, view in enumerate(run(comms, lambda c: c.reduce_scatter(bufs[c.rank]))):
            start, stop = shard_bounds(length, n, rank)
            assert view.size == 0 or np.shares_memory(view, bufs[rank][start:stop])
            np.testing.assert_array_equal(view, total[start:stop])
        bufs = [np.full(length, np.nan, dtype=np.float32) for _ in range(n)]
        for rank, buf in enumerate(bufs):
            start, stop = shard_bounds(length, n, rank)
            buf[start:stop] = inputs[0][start:stop]
        run(comms, lambda c: c.all_gather(bufs[c.rank]))
        for buf in bufs:
            np.testing.assert_array_equal(buf, inputs[0])
        root = int(rng.integers(0, n))
        bufs = [x.copy() for x in inputs]
        run(comms, lambda c: c.broadcast(bufs[c.rank], root))
        for buf in bufs:
            np.testing.assert_array_equal(buf, inputs[root])
        small = run(comms, lambda c: c.all_reduce_small(np.array([c.rank, 1.0])))
        assert all(s.tolist() == [n * (n - 1) / 2, n] for s in small)
        run(comms, lambda c: c.barrier())
    finally:
        for comm in comms:
            comm.close()


@pytest.mark.parametrize(
    "hosts",
    [[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[0, 3, 4], [1, 2, 5]], [[0], [1], [2]], [[0, 1]]],
)
@pytest.mark.parametrize("length", [0, 1, 7, 100])
def test_the_lane_layout_tiles_the_work_vector_with_every_ranks_shard(hosts, length):
    n = sum(len(h) for h in hosts)
    for host, members in enumerate(hosts):
        for lane in range(len(members)):
            layout = plan_layout(length, hosts, host, lane)
            sizes = {k: b - a for k, (a, b) in layout.pieces.items()}
            assert sizes == {k: -np.subtract(*shard_bounds(length, n, k)) for k in range(n)}
            assert layout.regions[0][0] == 0 and layout.regions[-1][1] == length
            lo, hi = layout.regions[lane]
            assert layout.lane_bounds[0][0] == 0 and layout.lane_bounds[-1][1] == hi - lo
    permuted = hosts in ([[0, 1], [2, 3]], [[0, 3, 4], [1, 2, 5]])  # not lane-major already
    assert plan_layout(length, hosts, 0, 0).identity == (not permuted)


@pytest.mark.parametrize("hosts", [[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[0, 3, 4], [1, 2, 5]]])
@pytest.mark.parametrize("length", [0, 1, 7, 100, 1001])
@pytest.mark.parametrize("chunk", [1, 16, 10**6])
def test_the_input_stages_split_the_other_regions_after_the_first_lane_chunk(hosts, length, chunk):
    n, m = sum(len(h) for h in hosts), len(hosts[0])
    lanes = [[h[i] for h in hosts] for i in range(m)]
    for host in range(len(hosts)):
        for j in range(m):
            layout = plan_layout(length, hosts, host, j)
            first, rest = input_stages(layout, lanes, j, host, chunk)
            covered = np.zeros(length, dtype=int)
            for (a, b), (s, e) in first + rest:
                assert b - a == e - s >= 0
                covered[s:e] += 1
                k = next(k for k, (p, q) in layout.pieces.items() if p <= a and b <= q)
                assert s - shard_bounds(length, n, k)[0] == a - layout.pieces[k][0]
            own = [k for k in range(n) if k in lanes[j]]  # region j: this rank's own lane
            expected = np.ones(length, dtype=int)
            for k in own:
                expected[slice(*shard_bounds(length, n, k))] = 0
            np.testing.assert_array_equal(covered, expected)  # every other input, once
            # The first stage: exactly the first chunk that each other lane sends.
            prev = hosts[(host - 1) % len(hosts)]
            want = [
                (layout.pieces[prev[i]][0], min(layout.pieces[prev[i]][1],
                                                layout.pieces[prev[i]][0] + chunk))
                for i in range(m) if i != j
            ]  # fmt: skip
            assert [p for p, _ in first] == [w for w in want if w[1] > w[0]]


def test_the_sub_rings_use_shared_memory_within_and_sockets_between_hosts():
    comms = join(["a", "a", "b", "b"])
    try:
        for comm in comms:
            transport = comm._transport
            assert transport.regular and transport.hosts == [[0, 1], [2, 3]]
            assert (transport.local.transport, transport.lane.transport) == ("shm", "socket")
            # what the trainer's history records: the local ring's signal, not None
            assert comm.shm_signal == transport.local.shm_signal in ("memory", "socket")
    finally:
        for comm in comms:
            comm.close()


@pytest.mark.parametrize("keys", [list("aabb"), list("abab"), list("aaab"), list("aabbcc")])
@pytest.mark.parametrize("name", ["adam", "sgd-momentum-clip-decay"])
def test_sharded_step_on_hosts_matches_a_single_process_and_the_flat_ring(keys, name):
    n = len(keys)
    grads = rank_grads(n, make_params().size)
    expected = single_process_reference(OPTIMIZERS[name], grads, 1.0 / n)

    def train(comm):
        params = make_params()
        step = ShardedStep(comm, OPTIMIZERS[name](), params)
        assert step.bounds == shard_bounds(params.size, n, comm.rank)
        for per_rank in grads:
            params.grad[:] = per_rank[comm.rank]
            step.step(params, grad_scale=1.0 / n)
        return params.data.copy()

    results = {}
    for topology in ("hierarchical", "flat"):
        comms = join(keys, topology=topology)
        try:
            results[topology] = run(comms, train)
        finally:
            for comm in comms:
                comm.close()
    for data in results["hierarchical"]:
        assert data.tobytes() == results["hierarchical"][0].tobytes()  # identical bits
        np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(data, results["flat"][0], rtol=1e-5, atol=1e-6)


def test_compression_applies_between_hosts_and_every_rank_stays_identical():
    comms = join(list("aabb"))
    try:
        rng = np.random.default_rng(3)
        bufs = [rng.standard_normal(1000).astype(np.float32) for _ in comms]
        exact = np.sum(bufs, axis=0)
        run(comms, lambda c: c.all_reduce(bufs[c.rank], compression="bf16"))
        assert all(b.tobytes() == bufs[0].tobytes() for b in bufs)
        np.testing.assert_allclose(bufs[0], exact, atol=4 * 2.0**-8 * np.abs(exact).max())
    finally:
        for comm in comms:
            comm.close()


@pytest.mark.parametrize("keys", [list("aabb"), list("aaabbb")])
def test_a_lossy_all_gather_between_hosts_leaves_every_rank_identical(keys):
    # A lossy codec rounds the owner's slice as the lane sends it, so the host's ranks copy
    # it only after the lane (with a lossless one, while the lane runs).
    comms = join(keys)
    try:
        n, length = len(keys), 1000
        source = np.random.default_rng(5).standard_normal(length).astype(np.float32)
        bufs = [np.full(length, np.nan, dtype=np.float32) for _ in comms]
        for rank, buf in enumerate(bufs):
            start, stop = shard_bounds(length, n, rank)
            buf[start:stop] = source[start:stop]
        run(comms, lambda c: c.all_gather(bufs[c.rank], compression="bf16"))
        assert all(b.tobytes() == bufs[0].tobytes() for b in bufs)
        np.testing.assert_allclose(bufs[0], source, rtol=2.0**-8)
        assert not np.array_equal(bufs[0], source)  # it was rounded, so the test can fail
    finally:
        for comm in comms:
            comm.close()


@pytest.mark.parametrize("keys", [list("aabb"), list("aaabbb"), list("abab")])
def test_staged_phases_stay_exact_when_ranks_arrive_at_different_times(keys):
    # Real chunk size (1 MiB): each lane sends several chunks, so the second input stage,
    # the own shard put chunk by chunk and the host's shards copied at the first gathered
    # chunk all happen mid-lane, with ranks entering each call in a random order.
    n = len(keys)
    length = n * 3 * (1 << 18) // 2 + 13  # 1.5 chunks of 1 MiB per rank
    rng = np.random.default_rng(11)
    inputs = [rng.integers(-1000, 1000, length).astype(np.float32) for _ in range(n)]
    total = np.sum(inputs, axis=0, dtype=np.float64).astype(np.float32)
    delays = rng.uniform(0, 0.02, size=(3, 3, n))
    comms = join(keys, chunk_bytes=1 << 20)

    def calls(comm):
        r, out = comm.rank, []
        for round_delays in delays:
            time.sleep(round_delays[0][r])
            buf = inputs[r].copy()
            out.append(comm.all_reduce(buf).copy())
            time.sleep(round_delays[1][r])
            buf = inputs[r].copy()
            start, stop = shard_bounds(length, n, r)
            out.append(comm.reduce_scatter(buf).copy())
            buf[:] = np.nan
            buf[start:stop] = total[start:stop]
            time.sleep(round_delays[2][r])
            out.append(comm.all_gather(buf).copy())
        return out

    try:
        for rank, out in enumerate(run(comms, calls)):
            start, stop = shard_bounds(length, n, rank)
            for i, got in enumerate(out):
                want = total[start:stop] if i % 3 == 1 else total
                assert got.tobytes() == want.tobytes(), (rank, i)
    finally:
        for comm in comms:
            comm.close()


def test_topology_settings_are_validated_and_the_environment_fills_in_auto(monkeypatch):
    with pytest.raises(ConfigError, match=r"topology must be one of 'auto', 'flat', 'hierarc"):
        CommConfig(topology="tree")
    with pytest.raises(ConfigError, match="host_key must be a non-empty string or None"):
        CommConfig(host_key="")
    monkeypatch.setenv("DLCORE_TOPOLOGY", "ring")
    with pytest.raises(ConfigError, match="DLCORE_TOPOLOGY must be one of .* Received: 'ring'"):
        CommConfig().requested_topology()
    monkeypatch.setenv("DLCORE_TOPOLOGY", "Flat")
    assert CommConfig().requested_topology() == "flat"
    assert CommConfig(topology="hierarchical").requested_topology() == "hierarchical"
    comms = join(list("aabb"))  # the environment says flat: one ring over the fake hosts
    assert [c.transport for c in comms] == ["socket"] * 4
    for comm in comms:
        comm.close()


# -- failures -----------------------------------------------------------------------------
@pytest.fixture
def spawn() -> Iterator[multiprocessing.context.SpawnContext]:
    ctx = multiprocessing.get_context("spawn")
    yield ctx
    for child in multiprocessing.active_children():
        child.kill()
        child.join(timeout=10)


def _start(spawn, secret, op_timeout: float):
    """Ranks 0-2 as threads, rank 3 as a process; hosts {0, 1} and {2, 3}."""
    keys, length = ["a", "a", "b", "b"], 1 << 16
    server = RendezvousServer(secret, 4, host="127.0.0.1")
    victim = spawn.Process(
        target=all_reduce_forever_on_host,
        args=(server.address, secret, 3, 4, length, 60.0, "b"),
        daemon=True,
    )
    victim.start()
    errors: dict[int, BaseException] = {}
    warm = [threading.Event() for _ in range(3)]

    def survive(rank: int) -> None:
        config = loopback_config(op_timeout=op_timeout, host_key=keys[rank])
        try:
            with Communicator.join(server.address, secret, Member(rank, 4), config) as comm:
                assert comm.transport == "hierarchical"
                buf = np.ones(length, dtype=np.float32)
                for done in range(10**9):
                    comm.all_reduce(buf)
                    assert buf[0] == 4
                    buf.fill(1.0)
                    if done == 2:
                        warm[rank].set()
        except BaseException as exc:
            errors[rank] = exc
            warm[rank].set()

    threads = [threading.Thread(target=survive, args=(r,), daemon=True) for r in range(3)]
    for t in threads:
        t.start()
    for event in warm:
        assert event.wait(timeout=60), "the group never completed 3 all-reduces"
    assert not errors, errors
    return server, victim, threads, errors


@pytest.mark.parametrize("how", ["kill", "freeze"])
def test_a_lost_rank_fails_every_host_within_the_deadline(spawn, secret, how):
    op_timeout = 2.0
    server, victim, threads, errors = _start(spawn, secret, op_timeout)
    try:
        os.kill(victim.pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        for t in threads:
            t.join(timeout=op_timeout + 10)
        assert not any(t.is_alive() for t in threads), "a survivor hung"
        assert sorted(errors) == [0, 1, 2]
        assert all(isinstance(e, CommunicationError) for e in errors.values()), errors
        if how == "freeze":
            assert any(isinstance(e, PeerTimeoutError) for e in errors.values()), errors
        # Rank 2 (its host's ring) and rank 1 (its lane) face rank 3 directly; the first of
        # them to notice names it. The other may be waiting on a rank that has already given
        # up (rank 1 on rank 0 in its host's all-gather), whose closed connection it reports.
        assert "rank 3" in str(errors[2]) or "rank 3" in str(errors[1]), errors
    finally:
        victim.kill()
        victim.join(timeout=10)
        server.close()


@pytest.mark.parametrize("signal_kind", ["memory", "socket"])
def test_a_stalled_rank_on_the_same_host_is_named_by_its_global_rank(signal_kind):
    """Rank 3 calls all_reduce, its host's other rank (global rank 2, local index 0) does
    not: rank 3's deadline names rank 2. On b35dc707 the shared-memory waits named the
    local ring's index ("by rank 0 from rank 0", memory signals; "inputs written by rank 0
    ... from rank 2", socket signals): global rank 0, alive on the other host."""
    comms = join(list("aabb"), op_timeout=1.0, shm_signal=signal_kind)
    try:
        assert comms[3].shm_signal == signal_kind
        with pytest.raises(PeerTimeoutError) as caught:
            comms[3].all_reduce(np.ones(64, dtype=np.float32))
        message = str(caught.value)
        assert re.search(r"written\)? by rank 2\b", message), message
        assert not re.search(r"rank [03]\b", message), message
    finally:
        for comm in comms:
            comm.abort("the test is over")
            comm.close()


@pytest.mark.parametrize("keys", [list("aabb"), list("abab"), list("aaabbb")])
@pytest.mark.parametrize("length", [0, 5, 301])
def test_without_shared_memory_the_local_rings_use_sockets_and_stay_exact(keys, length):
    n = len(keys)
    rng = np.random.default_rng(length)
    inputs = [rng.integers(-1000, 1000, length).astype(np.float32) for _ in range(n)]
    total = np.sum(inputs, axis=0, dtype=np.float64).astype(np.float32)
    comms = join(keys, transport="socket")
    try:
        assert {c._transport.local.transport for c in comms} == {"socket"}
        assert {c.shm_signal for c in comms} == {None}
        bufs = [x.copy() for x in inputs]
        for result in run(comms, lambda c: c.all_reduce(bufs[c.rank])):
            assert result.tobytes() == total.tobytes()
        bufs = [x.copy() for x in inputs]
        for rank, view in enumerate(run(comms, lambda c: c.reduce_scatter(bufs[c.rank]))):
            start, stop = shard_bounds(length, n, rank)
            np.testing.assert_array_equal(view, total[start:stop])
            bufs[rank][:start] = np.nan  # all_gather must fill everything else
            bufs[rank][stop:] = np.nan
        run(comms, lambda c: c.all_gather(bufs[c.rank]))
        for buf in bufs:
            assert buf.tobytes() == total.tobytes()
    finally:
        for comm in comms:
            comm.close()
