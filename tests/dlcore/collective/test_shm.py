"""The shared-memory transport: negotiation, fallback, segment files, growth and misuse.

Ranks are threads of this process (co-located, like Spark local[N]). Segment
directories are private folders in /dev/shm, so the tests see every file; a rank
given a DIFFERENT folder cannot find its peers' segments, which is what two
containers on one host (same boot id, separate /dev/shm) look like.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import multiprocessing
import os
import re
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dlcore.collective import (
    CommConfig,
    Communicator,
    LocalGroup,
    Member,
    RendezvousServer,
    loopback_config,
    segment,
)
from dlcore.collective.segment import PeerSegment, Segment, segment_bytes, slot_capacity
from dlcore.collective.shm import offers_problem
from dlcore.errors import CommunicationError, ConfigError, FrameError
from dlcore.params import shard_bounds
from tests.dlcore.collective._workers import create_segments_and_die


@pytest.fixture
def other_dir(shm_dir) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="dlcore-test-other-", dir=os.path.dirname(shm_dir))
    yield path
    os.rmdir(path)


def join_all(configs: list[CommConfig], secret: bytes) -> list[Communicator]:
    """One thread per rank joins with its own config; raises the first failure."""
    n = len(configs)
    with RendezvousServer(secret, n, host="127.0.0.1") as server:
        with ThreadPoolExecutor(n) as pool:
            futures = [
                pool.submit(Communicator.join, server.address, secret, Member(r, n), configs[r])
                for r in range(n)
            ]
            errors = [f.exception(timeout=60) for f in futures]
        comms = [f.result() for f, e in zip(futures, errors, strict=True) if e is None]
        if any(errors):
            for comm in comms:
                comm.close()
            raise next(e for e in errors if e is not None)
    return comms


def run_all(comms: list[Communicator], fn: Callable[[Communicator], object]) -> list:
    """fn(comm) on every rank at once; a failure aborts the others, then raises."""
    with ThreadPoolExecutor(len(comms)) as pool:
        futures = [pool.submit(fn, comm) for comm in comms]
        try:
            return [f.result(timeout=60) for f in futures]
        except BaseException:
            for comm in comms:
                comm.abort("another rank of the test failed")
            raise


def summed(comm: Communicator, length: int = 1000) -> np.ndarray:
    return comm.all_reduce(np.full(length, comm.rank + 1.0, dtype=np.float32))


def shm(shm_dir: str | None, transport: str = "shm", **overrides) -> CommConfig:
    return loopback_config(transport=transport, shm_dir=shm_dir, op_timeout=10.0, **overrides)


# -- negotiation and fallback ---------------------------------------------------------------
def test_ranks_that_do_not_share_the_segment_directory_fall_back_to_sockets(
    secret, shm_dir, other_dir, caplog
):
    configs = [shm(shm_dir, "auto"), shm(other_dir, "auto"), shm(shm_dir, "auto")]
    with caplog.at_level(logging.INFO, logger="dlcore.collective.shm"):
        comms = join_all(configs, secret)
    try:
        assert [c.transport for c in comms] == ["socket"] * 3
        for result in run_all(comms, summed):
            np.testing.assert_array_equal(result, np.full(1000, 6.0))
        assert re.search(r"rank 0 cannot map the segment of rank 1: cannot open", caplog.text)
        assert os.listdir(shm_dir) == [] and os.listdir(other_dir) == []
    finally:
        for comm in comms:
            comm.close()


def test_shm_requested_but_impossible_is_a_clear_error_on_every_rank(secret, shm_dir, other_dir):
    configs = [shm(shm_dir), shm(other_dir)]
    with pytest.raises(
        CommunicationError,
        match=r"transport 'shm' was requested but is impossible: rank 0 cannot map the segment "
        r"of rank 1: .*do not share .*Use transport 'auto'",
    ):
        join_all(configs, secret)
    assert os.listdir(shm_dir) == [] and os.listdir(other_dir) == []


def test_shm_requested_without_a_segment_directory(secret, shm_dir):
    missing = os.path.join(shm_dir, "missing")
    with pytest.raises(CommunicationError, match=f"rank 0: the segment directory {missing} does"):
        join_all([shm(missing), shm(missing)], secret)


def test_one_rank_asking_for_shm_makes_every_rank_require_it(secret, shm_dir, other_dir):
    with pytest.raises(CommunicationError, match="'shm' was requested but is impossible"):
        join_all([shm(shm_dir, "auto"), shm(other_dir, "shm")], secret)
    comms = join_all([shm(shm_dir, "auto"), shm(shm_dir, "shm")], secret)
    assert [c.transport for c in comms] == ["shm", "shm"]
    for comm in comms:
        comm.close()


def test_ranks_on_different_hosts_rule_shared_memory_out():
    offer = {"host": "a", "name": "", "token": b"", "error": "", "transport": "auto"}
    offers = [offer, {**offer, "host": "b"}, offer]
    assert offers_problem(offers) == (
        "ranks [0, 2] and [1] run on different hosts (boot id, hostname or uid differ)"
    )
    assert offers_problem([offer, {**offer, "error": "rank 1: no tmpfs"}]) == "rank 1: no tmpfs"
    assert offers_problem([offer, offer]) == ""


def test_world_size_one_moves_nothing_and_creates_nothing(secret, shm_dir):
    with Communicator(Member(0, 1), [("unused", 0)], secret, None, shm(shm_dir)) as comm:
        assert comm.transport == "none"
        np.testing.assert_array_equal(comm.all_reduce(np.ones(3, dtype=np.float32)), [1, 1, 1])
    assert os.listdir(shm_dir) == []


def test_transport_settings_are_validated_and_the_environment_fills_in_auto(monkeypatch):
    with pytest.raises(ConfigError, match=r"transport must be one of 'auto', 'socket', 'shm'"):
        CommConfig(transport="tcp")
    with pytest.raises(ConfigError, match="shm_dir must be a directory path or None"):
        CommConfig(shm_dir="")
    monkeypatch.setenv("DLCORE_TRANSPORT", "nccl")
    with pytest.raises(ConfigError, match="DLCORE_TRANSPORT must be one of .* Received: 'nccl'"):
        CommConfig().requested_transport()
    monkeypatch.setenv("DLCORE_TRANSPORT", "Socket")
    assert CommConfig().requested_transport() == "socket"
    assert CommConfig(transport="shm").requested_transport() == "shm"  # explicit wins
    with LocalGroup(2) as group:
        assert [c.transport for c in group.comms] == ["socket", "socket"]


# -- segment files ---------------------------------------------------------------------------
def _mappings_of(directory: str) -> list[str]:
    with open("/proc/self/maps") as f:
        return [line for line in f if directory in line]


def test_segments_are_unlinked_once_mapped_and_unmapped_on_close(shm_dir):
    group = LocalGroup(3, shm(shm_dir))
    try:
        assert os.listdir(shm_dir) == []  # every rank mapped every segment, then unlinked
        assert len(_mappings_of(shm_dir)) == 3 * 3  # each rank maps its own and 2 peers'
        group.run(lambda comm: summed(comm, 300_000))  # grows every segment
        assert os.listdir(shm_dir) == []
        assert all("(deleted)" in line for line in _mappings_of(shm_dir))
    finally:
        group.close()
    assert _mappings_of(shm_dir) == []


def test_segment_files_are_private_and_peers_check_them(shm_dir):
    own = Segment.create(shm_dir, 64 << 10)
    try:
        st = os.stat(own.path)
        assert re.fullmatch(r"dlcore-[0-9a-f]{32}", own.name)
        assert st.st_mode & 0o777 == 0o600 and st.st_size == segment_bytes(64 << 10)
        peer = PeerSegment.open(shm_dir, own.name, 64 << 10, own.token)
        own.slots[1][:3] = [1, 2, 3]
        np.testing.assert_array_equal(peer.slots[1][:3], [1, 2, 3])
        assert not peer.slots[1].flags.writeable  # peers map read-only
        peer.close()
        with pytest.raises(CommunicationError, match="does not hold the token"):
            PeerSegment.open(shm_dir, own.name, 64 << 10, bytes(16))
        with pytest.raises(CommunicationError, match="bytes, expected"):
            PeerSegment.open(shm_dir, own.name, 128 << 10, own.token)
        with pytest.raises(CommunicationError, match="not a dlcore segment name"):
            PeerSegment.open(shm_dir, "../" + own.name, 64 << 10, own.token)
        os.chmod(own.path, 0o644)
        with pytest.raises(CommunicationError, match="has mode 644, expected 600"):
            PeerSegment.open(shm_dir, own.name, 64 << 10, own.token)
    finally:
        own.close()
    assert os.listdir(shm_dir) == []


def test_a_killed_ranks_segment_files_are_removed_by_the_next_negotiation(shm_dir, caplog):
    """Session 49: a rank killed between creating its segment and its peers' unlink (the
    job cancelled, or the OOM killer while posix_fallocate reserves the memory) left the
    file in /dev/shm until reboot: 128 MB after a 16 M-parameter growth. The next
    negotiation now removes such files: unlocked (a dead creator's lock is gone) and older
    than a minute; a live rank's (locked) and a fresh one stay."""
    child = multiprocessing.get_context("spawn").Process(
        target=create_segments_and_die, args=(shm_dir, 2)
    )
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL
    dead = sorted(os.listdir(shm_dir))
    live = Segment.create(shm_dir, 64 << 10)  # a rank of another job, mid-negotiation
    hour_ago = time.time() - 3600
    for name in (dead[0], live.name):
        os.utime(os.path.join(shm_dir, name), (hour_ago, hour_ago))
    try:
        logs = caplog.at_level(logging.WARNING, logger="dlcore.collective.shm")
        with logs, LocalGroup(2, shm(shm_dir)) as group:
            assert [c.transport for c in group.comms] == ["shm", "shm"]
        assert sorted(os.listdir(shm_dir)) == sorted([dead[1], live.name])
        assert re.search(
            r"rank \d: removed 1 leftover shared-memory segment file\(s\) \(\d+ bytes\) from "
            + re.escape(shm_dir),
            caplog.text,
        )
    finally:
        live.close()
    assert os.listdir(shm_dir) == [dead[1]]


def test_a_segment_whose_unlink_fails_still_drops_its_lock(shm_dir):
    """Review 49: the creator keeps its file's fd (and the flock that tells the sweep "in
    use") until close(); an unlink that failed (EACCES, EROFS; here a directory took the
    name) raised before closing the fd and the mapping, so both leaked and the file stayed
    locked as long as the process lived."""
    own = Segment.create(shm_dir, 64 << 10)
    inode = os.open(own.path, os.O_RDONLY)  # the file, whatever happens to its name
    try:
        os.unlink(own.path)
        os.mkdir(own.path)
        with pytest.raises(IsADirectoryError):
            own.close()
        fcntl.flock(inode, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it any more
    finally:
        os.close(inode)
        os.rmdir(own.path)
    assert os.listdir(shm_dir) == []


class _NoFlock:
    """fcntl on a filesystem without flock (Lustre without -o flock, NFS without lockd)."""

    LOCK_SH, LOCK_EX, LOCK_NB = fcntl.LOCK_SH, fcntl.LOCK_EX, fcntl.LOCK_NB

    @staticmethod
    def flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))


def test_shared_memory_works_where_flock_does_not_and_the_sweep_leaves_files_alone(
    shm_dir, monkeypatch
):
    """Review 49: with the leftover sweep, Segment.create took a flock first and raised
    when the filesystem had none: every segment was refused, "auto" fell back to sockets
    and "shm" raised. Without flock the segments now go unlocked, and the sweep, which
    cannot lock them either, removes none of them, however old."""
    monkeypatch.setattr(segment, "fcntl", _NoFlock)
    old = Segment.create(shm_dir, 64 << 10)  # unlocked: all the sweep could see is its age
    hour_ago = time.time() - 3600
    os.utime(old.path, (hour_ago, hour_ago))
    try:
        with LocalGroup(2, shm(shm_dir)) as group:
            assert [c.transport for c in group.comms] == ["shm", "shm"]
            for total in group.run(summed):
                np.testing.assert_array_equal(total, np.full(1000, 3.0, np.float32))
        assert os.listdir(shm_dir) == [old.name]
    finally:
        old.close()


def test_slot_capacity_grows_by_half_at_least_in_64_kib_granules():
    assert slot_capacity(1, 0) == 64 << 10
    assert slot_capacity(65 << 10, 64 << 10) == 128 << 10  # 1.5 x 64 KiB = 96, rounded up
    assert slot_capacity(10 << 20, 64 << 10) == 10 << 20
    assert slot_capacity((10 << 20) + 4, 10 << 20) == 15 << 20


# -- growth -----------------------------------------------------------------------------------
def test_growth_failure_falls_back_to_sockets_under_auto(secret, shm_dir, tmp_path, caplog):
    alias = tmp_path / "alias"  # rank 1 reaches the same tmpfs folder through a symlink
    alias.symlink_to(shm_dir)
    comms = join_all([shm(shm_dir, "auto"), shm(str(alias), "auto")], secret)
    try:
        assert [c.transport for c in comms] == ["shm", "shm"]
        alias.unlink()  # rank 1 can no longer create a larger segment
        with caplog.at_level(logging.WARNING, logger="dlcore.collective.shm"):
            results = run_all(comms, lambda comm: summed(comm, 100_000))
        for result in results:
            np.testing.assert_array_equal(result, np.full(100_000, 3.0))
        assert [c.transport for c in comms] == ["socket", "socket"]
        assert "rank 1 cannot create a" in caplog.text and "falling back" in caplog.text
        np.testing.assert_array_equal(run_all(comms, summed)[0], np.full(1000, 3.0))
    finally:
        for comm in comms:
            comm.close()
    assert os.listdir(shm_dir) == []


def test_growth_failure_under_shm_breaks_the_communicator(secret, shm_dir, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(shm_dir)
    comms = join_all([shm(shm_dir), shm(str(alias))], secret)
    try:
        alias.unlink()
        with pytest.raises(CommunicationError, match="cannot grow the shared-memory slots"):
            run_all(comms, lambda comm: summed(comm, 100_000))
        with pytest.raises(CommunicationError, match="communicator is broken"):
            comms[0].barrier()
    finally:
        for comm in comms:
            comm.close()
    assert os.listdir(shm_dir) == []


# -- semantics --------------------------------------------------------------------------------
def spread_inputs(world_size: int, length: int, seed: int) -> np.ndarray:
    """Float32 terms over 12 decades: sums that depend on the order of the additions."""
    rng = np.random.default_rng(seed)
    scale = np.float32(10.0) ** rng.integers(-4, 8, size=(world_size, length))
    return (rng.standard_normal((world_size, length)) * scale).astype(np.float32)


LENGTHS = (0, 1, 2, 7, 5000, 100_003)  # 100_003: past the first slots (a growth)


@pytest.mark.parametrize("world_size", [2, 3, 4, 5])
def test_shared_memory_and_sockets_sum_to_the_same_bits(world_size):
    """Both transports add each shard's terms in the socket ring's order (owner + 1 first,
    the owner last), so the transport chosen (or a fall back to sockets) never changes a
    sum. On b35dc707 shared memory summed in rank order: ~15 % of the elements differed
    from the socket ring's for 3 ranks and more."""
    inputs = {n: spread_inputs(world_size, n, seed=n) for n in LENGTHS}
    results = {}
    for transport in ("shm", "socket"):
        with LocalGroup(world_size, shm(None, transport)) as group:
            assert [c.transport for c in group.comms] == [transport] * world_size
            for n, x in inputs.items():
                summed = group.run(lambda comm, x=x: comm.all_reduce(x[comm.rank].copy()))
                assert all(r.tobytes() == summed[0].tobytes() for r in summed)
                scattered = group.run(
                    lambda comm, x=x: comm.reduce_scatter(x[comm.rank].copy()).copy()
                )
                assert np.concatenate(scattered).tobytes() == summed[0].tobytes()
                results[transport, n] = summed[0]
    for n in inputs:
        assert results["shm", n].tobytes() == results["socket", n].tobytes(), n
    # the ring's order: shard s is ((x[s+1] + x[s+2]) + ...) + x[s]
    x = inputs[5000]
    for s, (start, stop) in enumerate(shard_bounds(5000, world_size, k) for k in range(world_size)):
        expected = x[(s + 1) % world_size, start:stop].copy()
        for k in range(2, world_size + 1):
            expected += x[(s + k) % world_size, start:stop]
        assert results["shm", 5000][start:stop].tobytes() == expected.tobytes(), s


def test_compression_is_validated_but_shared_memory_stays_exact():
    values = np.float32(1.0 + 2.0**-12)  # not representable in bf16
    with LocalGroup(2, shm(None)) as group:
        results = group.run(
            lambda comm: comm.all_reduce(np.full(7, values, np.float32), compression="bf16")
        )
        np.testing.assert_array_equal(results[0], np.full(7, 2 * values, np.float32))
        with pytest.raises(ConfigError, match="unknown compression 'int8'"):
            group.comms[0].all_reduce(np.ones(2, np.float32), compression="int8")


@pytest.mark.parametrize(
    ("mismatch", "error"),
    [
        (lambda c: c.all_reduce(np.ones(4 + c.rank, np.float32)), "same length"),
        (lambda c: c.all_reduce(np.ones(10 + 100_000 * c.rank, np.float32)), "same length"),
        (lambda c: c.broadcast(np.ones(4, np.float32), root=c.rank), "same arguments"),
        (
            lambda c: (
                c.all_gather(np.ones(4, np.float32))
                if c.rank
                else c.all_reduce(np.ones(4, np.float32))
            ),
            "same collectives in the same order",
        ),
    ],
    ids=["lengths", "lengths-one-rank-grows", "broadcast-roots", "collectives"],
)
def test_ranks_that_disagree_are_told_how(mismatch, error):
    with LocalGroup(2, shm(None)) as group, pytest.raises(FrameError, match=error):
        group.run(mismatch)
