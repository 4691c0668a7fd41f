"""Phase signals of the shared-memory transport: through the segments (x86-64) or frames.

Ranks are threads of this process, except where a process must die; the failure tests
of test_failures.py run on whatever signal this machine uses by default.
"""

from __future__ import annotations

import platform
import threading
import time

import numpy as np
import pytest

from dlcore.collective import CommConfig, LocalGroup, loopback_config
from dlcore.collective.shm_signal import memory_signals_possible
from dlcore.errors import CommunicationError, ConfigError, FrameError
from tests.dlcore.collective.test_shm import join_all, run_all

X86_64 = platform.machine().lower() in {"x86_64", "amd64"}
needs_x86 = pytest.mark.skipif(not X86_64, reason="memory signals are x86-64 only")


def shm(**overrides):
    return loopback_config(**{"transport": "shm", "op_timeout": 10.0, **overrides})


def calls(comm, rng_seed: int = 5) -> list[np.ndarray]:
    """Every shared-memory collective, twice (both slots), on random data."""
    rng = np.random.default_rng(rng_seed + comm.rank)
    out = []
    for size in (40_000, 40_000, 1, 7):  # growth first: the counters restart with it
        out.append(comm.all_reduce(rng.standard_normal(size).astype(np.float32)).copy())
        buf = rng.standard_normal(size).astype(np.float32)
        out.append(comm.reduce_scatter(buf).copy())
        out.append(comm.all_gather(rng.standard_normal(size).astype(np.float32)).copy())
        out.append(comm.broadcast(rng.standard_normal(size).astype(np.float32), root=1).copy())
    return out


@needs_x86
def test_memory_and_socket_signals_give_the_same_bits(monkeypatch):
    with LocalGroup(3, shm()) as group:
        assert all(c._transport._signals is not None for c in group.comms)
        by_memory = group.run(calls)
        counts = {c._transport._signals.count for c in group.comms}
    assert counts == {4 * (2 + 1 + 1 + 1)}  # all_reduce 2 phases, the others 1 each
    monkeypatch.setenv("DLCORE_SHM_SIGNAL", "socket")
    with LocalGroup(3, shm()) as group:
        assert all(c._transport._signals is None for c in group.comms)
        by_frames = group.run(calls)
    for mine, theirs in zip(by_memory, by_frames, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert a.tobytes() == b.tobytes()


@needs_x86
def test_memory_signals_survive_segment_growth():
    """Growth installs new segments whose counters start at 0 on every rank."""
    with LocalGroup(2, shm()) as group:
        for size in (10, 100_000, 10, 1_000_000, 10):
            results = group.run(
                lambda c, n=size: c.all_reduce(np.full(n, c.rank + 1.0, np.float32))
            )
            assert all(np.all(r == 3.0) for r in results)
        assert all(c._transport._signals is not None for c in group.comms)


def test_a_rank_that_wants_socket_signals_makes_every_rank_use_them(secret):
    """The choice travels in the segment offer: one rank saying socket decides for all."""
    configs = [shm(shm_signal="socket" if r == 1 else "memory") for r in range(3)]
    comms = join_all(configs, secret)
    try:
        assert all(c._transport._signals is None for c in comms)
        results = run_all(comms, lambda c: c.all_reduce(np.full(5, 1.0, np.float32)))
    finally:
        for c in comms:
            c.close()
    assert all(np.all(r == 3.0) for r in results)


def test_a_bad_signal_setting_is_a_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match="CommConfig.shm_signal must be one of 'auto', 'memo"):
        CommConfig(shm_signal="futex")
    monkeypatch.setenv("DLCORE_SHM_SIGNAL", "futex")
    with pytest.raises(ConfigError, match="DLCORE_SHM_SIGNAL must be one of 'auto', 'memory'"):
        CommConfig().requested_shm_signal()
    assert CommConfig(shm_signal="socket").requested_shm_signal() == "socket"
    assert memory_signals_possible("socket") == (False, "shm_signal 'socket'")


@needs_x86
@pytest.mark.parametrize("signal", ["memory", "socket"])
def test_a_rank_in_another_collective_is_named(monkeypatch, signal):
    monkeypatch.setenv("DLCORE_SHM_SIGNAL", signal)

    def mismatch(c):
        if c.rank == 2:
            return c.all_gather(np.ones(8, np.float32))
        return c.all_reduce(np.ones(8, np.float32))

    with LocalGroup(3, shm()) as group, pytest.raises(FrameError, match="same collectives"):
        group.run(mismatch)


@needs_x86
def test_a_slow_rank_is_waited_for_and_a_silent_one_times_out():
    with LocalGroup(2, shm(op_timeout=1.0)) as group:

        def late(c):
            if c.rank == 1:
                time.sleep(0.3)  # past the spinning phase: the sleeping polls must see it
            return c.all_reduce(np.full(4, 1.0, np.float32))

        assert all(np.all(r == 2.0) for r in group.run(late))

        def silent(c):
            if c.rank == 1:
                return None  # never enters the call
            return c.all_reduce(np.full(4, 1.0, np.float32))

        t0 = time.monotonic()
        with pytest.raises(CommunicationError, match="deadline of 1 s passed .* rank 1"):
            group.run(silent)
        assert time.monotonic() - t0 < 5.0


@needs_x86
def test_a_neighbour_closing_its_sockets_fails_the_wait_at_once():
    with LocalGroup(3, shm(op_timeout=30.0)) as group:
        errors: dict[int, BaseException] = {}

        def run(c):
            try:
                c.all_reduce(np.full(4, 1.0, np.float32))
            except BaseException as exc:  # the measurement
                errors[c.rank] = exc

        threads = [threading.Thread(target=run, args=(c,)) for c in group.comms[:2]]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(0.2)
        group.comms[2].abort("rank 2 stops")  # shuts its sockets; it never signals
        for t in threads:
            t.join(timeout=10)
        elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads)
    assert set(errors) == {0, 1}
    assert all(isinstance(e, CommunicationError) for e in errors.values())
    assert elapsed < 5.0, elapsed  # not the 30 s deadline


@needs_x86
def test_a_peer_that_finishes_and_closes_at_once_does_not_fail_the_waiting_rank():
    """The last collective of a Spark stage: a rank signals, returns and closes its sockets
    while a peer still waits in its sleeping poll. The peer must see the counter, not the
    closed connection (it saw the connection: Spark stages whose rank 0 reached the last
    all_gather more than 2 ms after rank 1 failed, and were retried)."""
    for _ in range(10):
        with LocalGroup(2, shm()) as group:

            def last_call(c):
                if c.rank == 0:
                    time.sleep(0.02)  # the peer is past its spinning phase: it naps in select
                out = c.all_gather(np.full(4, c.rank + 1.0, np.float32)).copy()
                if c.rank == 0:
                    c.close()  # the end of its stage
                return out

            results = group.run(last_call)
        assert all(np.array_equal(r, [1.0, 1.0, 2.0, 2.0]) for r in results)
