"""Run a whole group in one process: N ranks as threads on loopback.

Owns: `LocalGroup` (a rendezvous server plus N connected communicators that can run
several functions in a row) and `start_threads` (one function, then tear down).
It goes through the real rendezvous, authentication, sockets and transport choice
(thread ranks share a host, so "auto" picks shared memory), so it is the same code
path a Spark barrier stage uses, minus Spark: tests and the Spark trainer's own
tests share it. Threads suit correctness work; measure speed with
processes (the GIL serialises the Python parts of the ranks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from dlcore.collective.auth import new_job_secret
from dlcore.collective.communicator import Communicator
from dlcore.collective.config import CommConfig, Member
from dlcore.collective.rendezvous import RendezvousServer
from dlcore.errors import PeerTimeoutError

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def loopback_config(**overrides: object) -> CommConfig:
    """A CommConfig for one machine: loopback only, deadlines suited to tests."""
    settings: dict[str, object] = {
        "listen_host": LOOPBACK,
        "advertise_host": LOOPBACK,
        "connect_timeout": 30.0,
        "op_timeout": 30.0,
    }
    settings.update(overrides)
    return CommConfig(**settings)  # type: ignore[arg-type]


def _run_ranks(
    world_size: int,
    fn: Callable[[int], T],
    timeout: float,
    on_error: Callable[[], None],
    discard: Callable[[T], None] | None = None,
    failed_at: Callable[[int], float | None] = lambda rank: None,
) -> list[T]:
    """fn(rank) on one thread per rank; the first failure triggers `on_error` (abort all).

    The exception raised is the root cause: the one whose rank failed first, by
    `failed_at(rank)` (when its communicator broke) or else by when it was caught.
    When raising, `discard` is applied to the results of the ranks that did succeed.
    """
    results: list = [None] * world_size
    errors: list[tuple[float, int, BaseException]] = []
    lock = threading.Lock()

    def target(rank: int) -> None:
        try:
            results[rank] = fn(rank)
        except BaseException as exc:
            when = failed_at(rank)
            with lock:
                errors.append((time.monotonic() if when is None else when, rank, exc))
            on_error()

    threads = [
        threading.Thread(target=target, args=(r,), name=f"dlcore-rank-{r}", daemon=True)
        for r in range(world_size)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [r for r, t in enumerate(threads) if t.is_alive()]
    if stuck:
        on_error()
        raise PeerTimeoutError(
            f"ranks {stuck} of {world_size} were still running after {timeout} s"
        )
    if errors:
        for result in results:
            if result is not None and discard is not None:
                discard(result)
        _raise_root_cause(errors, world_size)
    return results


def _raise_root_cause(errors: list[tuple[float, int, BaseException]], world_size: int):
    _, rank, first = min(errors, key=lambda e: e[0])  # later failures are its echoes
    first.add_note(f"raised on rank {rank} (of {world_size} local ranks)")
    raise first


class LocalGroup:
    """A rendezvous server and `world_size` connected communicators on loopback.

        with LocalGroup(4) as group:
            sums = group.run(lambda comm: comm.all_reduce(vectors[comm.rank]))

    After any failure the communicators are broken (as in a real job); build a new group.
    """

    def __init__(
        self,
        world_size: int,
        config: CommConfig | None = None,
        secret: bytes | None = None,
        round_id: int = 0,
    ) -> None:
        self.world_size = world_size
        self.config = config or loopback_config()
        self.secret = secret or new_job_secret()
        self.server = RendezvousServer(self.secret, world_size, host=LOOPBACK)
        self.comms: list[Communicator] = []
        try:
            # A rank that fails to join closes the server, so the others stop waiting.
            self.comms = _run_ranks(
                world_size,
                self._join_one(round_id),
                self.config.connect_timeout + 5,
                self.server.close,
                Communicator.close,
            )
        except BaseException:
            self.close()
            raise

    def _join_one(self, round_id: int) -> Callable[[int], Communicator]:
        def join(rank: int) -> Communicator:
            member = Member(rank, self.world_size, round_id)
            return Communicator.join(self.server.address, self.secret, member, self.config)

        return join

    def run(self, fn: Callable[[Communicator], T], timeout: float | None = None) -> list[T]:
        """fn(comm) on every rank concurrently; returns the results by rank.

        If a rank raises, every communicator is aborted so the others stop at once, and
        the first exception is re-raised (with a note naming its rank).
        """
        limit = timeout if timeout is not None else self.config.op_timeout * 4
        return _run_ranks(
            self.world_size,
            lambda r: fn(self.comms[r]),
            limit,
            self.abort,
            failed_at=lambda r: self.comms[r].broken_at,
        )

    def abort(self) -> None:
        for comm in list(self.comms):
            comm.abort("another local rank failed")

    def close(self) -> None:
        for comm in self.comms:
            comm.close()
        self.server.close()

    def __enter__(self) -> LocalGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_threads(
    world_size: int, fn: Callable[[Communicator], T], config: CommConfig | None = None
) -> list[T]:
    """Build a LocalGroup, run fn(comm) on every rank, close it; returns results by rank."""
    with LocalGroup(world_size, config) as group:
        return group.run(fn)
