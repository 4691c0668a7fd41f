"""Phase signals of the shared-memory transport written into the segments themselves.

Owns: `MemorySignals`, which announces "this rank finished phase P of its collective
call" by writing a counter into its own segment's header page and waits until every
peer's counter has caught up, and `memory_signals_possible`, which says where that is
sound. Does not own the phases' meaning (`shm.py`, `shm_regions.py`) nor the socket
frames that signal elsewhere (`shm_control.py`).

Why: the socket signal is an all-to-all round the ring, n-1 sequential socket hops per
phase (two phases per all-reduce), so on one host its latency grows with the number of
ranks: at 16 ranks the hops took most of a 43 k-parameter model's step
(docs/BENCHMARKS.md, trainer scaling). Here every rank reads every peer's counter
directly: one store to signal, n-1 loads to wait.

Layout, in the header page after the magic and token (offset 64): word 0 is the
counter (the phase count of this rank since its segments were installed), words 1-3
and 4-6 two records (phase, buffer bytes, argument) used alternately by odd and even
counts. A rank writes the record, then the counter. A peer can be at most one count
ahead (count c+1 waits for every counter to reach c+1), so the record of count c is
still in place when a slower rank reads it; ranks compare records, so ranks in
different calls, phases or buffer lengths are told how, as with socket frames.

Memory order: x86-64 keeps stores in program order and loads in program order (TSO),
so data written before the counter is visible to whoever sees the counter, and a rank's
reads of a slot precede its next counter store. Other processors need fences that
Python cannot issue, so there (and under `CommConfig.shm_signal` / DLCORE_SHM_SIGNAL
"socket") the socket frames stay in use.

Failures: waits are bounded by the operation's deadline (PeerTimeoutError naming the
slowest rank). While waiting, the ring sockets are watched: a neighbour's closed
connection fails the call within about a millisecond, and the communicator then shuts
its own sockets, so the failure travels round the ring as with socket signals. A frame
arriving from the left neighbour while some counter still lags means that neighbour is
in another collective: it is read and diagnosed.
"""

from __future__ import annotations

import os
import platform
import select
import socket
import time
from typing import TYPE_CHECKING

import numpy as np

from dlcore.collective.shm_control import TEXT, Phase, check_control, receive_frame
from dlcore.errors import CommunicationError, FrameError

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator, Operation

SPIN_S = 0.002  # yield-and-poll this long, then sleep between polls
SOCKET_CHECK_S = 0.0002  # how often the spinning phase looks at the sockets
SLEEP_MAX_S = 0.001
_X86_64 = {"x86_64", "amd64"}


def memory_signals_possible(choice: str) -> tuple[bool, str]:
    """(whether this rank can signal through memory, why not), for a resolved
    `CommConfig.requested_shm_signal()`."""
    if choice == "socket":
        return False, "shm_signal 'socket'"
    machine = platform.machine().lower()
    if machine not in _X86_64:
        return False, f"memory signals need x86-64's store order; this is {machine or 'unknown'}"
    return True, ""


class MemorySignals:
    """One rank's counter and record, and read-only views of every peer's."""

    def __init__(self, comm: Communicator, words: list[np.ndarray]) -> None:
        self.comm = comm
        self.count = 0
        self.own = words[comm.rank]
        self.peers = [(k, w) for k, w in enumerate(words) if k != comm.rank]
        self.left_rank = (comm.rank - 1) % comm.world_size

    def signal(self, op: Operation, phase: Phase, nbytes: int, arg: int = 0) -> None:
        """Announce `phase` and return once every rank has announced it."""
        self.count += 1
        c = self.count
        at = 1 + 3 * (c % 2)
        record = [int(phase), nbytes, arg]
        self.own[at : at + 3] = record
        self.own[0] = c  # after the record, after this rank's writes to its slot
        what = f"{op.name} (shared memory: {TEXT[phase]})"
        self._wait(op, c, (nbytes, phase, arg), what)
        for k, w in self.peers:
            theirs = w[at : at + 3].tolist()
            if theirs != record:
                who = self.comm.labels[k]
                check_control((theirs[1], theirs[0], theirs[2]), (nbytes, phase, arg), who, what)

    def _wait(self, op: Operation, c: int, expected: tuple[int, int, int], what: str) -> None:
        pending = list(self.peers)
        t0 = time.perf_counter()
        next_check, nap = t0 + SOCKET_CHECK_S, 0.0
        while True:
            pending = [(k, w) for k, w in pending if w[0] < c]
            if not pending:
                return
            now = time.perf_counter()
            if now - t0 < SPIN_S:
                os.sched_yield()
                if now < next_check:
                    continue
                next_check, timeout = now + SOCKET_CHECK_S, 0.0
            else:
                nap = min(SLEEP_MAX_S, max(5e-5, nap * 2))
                slowest = self.comm.labels[pending[0][0]]  # a sub-ring's index: its global rank
                left = op.deadline.remaining(f"{what} by {slowest}", slowest)
                timeout = min(nap, left)
            self._watch_sockets(op, c, expected, what, timeout)

    def _watch_sockets(
        self, op: Operation, c: int, expected: tuple[int, int, int], what: str, timeout: float
    ) -> None:
        comm = self.comm
        socks = {comm.left: comm.left_name, comm.right: comm.right_name}
        ready, _, _ = select.select(list(socks), [], [], timeout)
        if ready and not any(w[0] < c for _, w in self.peers):
            return  # every rank signalled; a peer may have finished and closed since
        for sock in ready:
            try:
                peek = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise CommunicationError(
                    f"connection to {socks[sock]} failed while waiting for {what}: {exc}"
                ) from exc
            if not peek:
                raise CommunicationError(
                    f"{socks[sock]} closed the connection while we waited for {what}: that "
                    "process stopped, or it gave up because another rank failed (see the "
                    "first error in the job's logs)"
                )
            if sock is comm.left:
                # The left neighbour sends nothing until every rank has signalled (checked
                # above, after the select): it is in another call. Read its frame to say how.
                receive_frame(comm, op, expected, comm.labels[self.left_rank], what)
                raise FrameError(
                    f"{comm.left_name} sent a frame while this rank waited for {what}; the "
                    "ranks are out of step: every rank must make the same sequence of "
                    "collective calls"
                )
