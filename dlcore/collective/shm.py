"""Shared-memory transport: the collectives of ranks that share one host's memory.

Owns: choosing the transport when a communicator is built (`negotiate`), the segment
protocol (offer, probe, unlink, grow; its messages, parsed and judged, are `shm_offer.py`'s,
`offers_problem` re-exported here) and the shared-memory collectives (`ShmTransport`).
Segment files live in `segment.py`; sockets, deadlines and the failure model in
`communicator.py` and `wire.py`. all_reduce_small and barrier are latency-bound, not
bandwidth-bound, and use the ring sockets exactly as the socket transport does.

Data moves through memory. Each phase is signalled through memory too, by a counter
and record in every segment's header page (`shm_signal.py`, on x86-64), or else by
small control frames round the authenticated ring sockets (`shm_control.py`; the send
and receive syscalls between one rank's writes and another rank's reads order the
memory accesses). Every wait is bounded by the operation's deadline and watches the
sockets, so the failure model is the socket transport's: an error breaks the
communicator and shuts its sockets, and the neighbours fail within milliseconds.

Each rank r owns one segment with two slots. An all-reduce of S floats on n ranks:

    1. r copies buf outside its own shard (shard_bounds(S, n, r)) into its slot;
    2. all-to-all "inputs written" (a counter in each segment, or each rank's frame
       travelling n-1 hops round the ring);
    3. r sums its shard over ranks in the socket ring's order (`ring_order`: r+1 first,
       its own term, read from buf, last) into its slot and into buf;
    4. all-to-all "sums written";
    5. r copies every other shard from its owner's slot.

Every shard is summed once, by its owner, in a fixed order, so all ranks end with
the same bits, run after run; it is the socket ring's order, so shared memory and the
socket transport give the same bits too (without compression). reduce_scatter is steps
1-3; all_gather copies the own slice, then one all-to-all, then the others'; broadcast
is the root's copy, one all-to-all, and the others' copies. Successive calls alternate slots, so no call
needs a trailing barrier: before a rank writes a slot again (call c+2) it has
received every rank's frame of call c+1, which each rank sends only after its reads
of call c. Compression arguments are validated and ignored: nothing crosses a wire
and float32 is exact (compression applies to the socket transport).

Negotiation (transport "auto" or "shm", world size > 1): each rank creates a segment
and sends (host key, segment name, random token) round the ring; when all host keys
agree, each rank maps every peer's segment and checks its token (two containers on
one host share a boot id but not /dev/shm), then sends whether that worked. Every
rank sees every answer, so all pick the same transport; every segment is unlinked
right after the second exchange (a rank killed before that leaves its file: the next
negotiation on the host removes it, `segment.remove_leftovers`). A buffer larger than
the slots grows all segments the same way, to the same capacity on every rank; if that
fails (a full /dev/shm) "auto" falls back to the socket transport and "shm" raises.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING

import numpy as np

from dlcore.collective.collectives import SocketTransport, check_flat, check_root
from dlcore.collective.compression import get_codec
from dlcore.collective.segment import (
    PeerSegment,
    Segment,
    host_key,
    remove_leftovers,
    segment_bytes,
    segment_dir,
    slot_capacity,
)
from dlcore.collective.shm_control import Phase, exchange
from dlcore.collective.shm_offer import offers_problem as offers_problem
from dlcore.collective.shm_offer import parse_offer, parse_problem, to_json
from dlcore.collective.shm_signal import MemorySignals, memory_signals_possible
from dlcore.errors import CommunicationError
from dlcore.params import shard_bounds

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator, Operation

logger = logging.getLogger(__name__)

INITIAL_CAPACITY = 64 << 10  # bytes per slot; grows on demand


def negotiate(comm: Communicator) -> ShmTransport | None:
    """The shared-memory transport if this group can and should use it, else None."""
    requested = comm.config.requested_transport()
    if requested == "socket" or comm.world_size == 1:
        return None
    shm = ShmTransport(comm, required=requested == "shm")
    if shm.dir is not None:
        files, freed = remove_leftovers(shm.dir)
        if files:
            logger.warning(
                "rank %d: removed %d leftover shared-memory segment file(s) (%d bytes) from "
                "%s: dlcore processes killed while negotiating shared memory left them",
                comm.rank, files, freed, shm.dir,
            )  # fmt: skip
    try:
        timeout = comm.config.connect_timeout  # part of joining, not of a collective
        setting = comm.config.connect_timeout_setting
        with comm.operation("the transport negotiation", timeout, setting) as op:
            problem = shm.establish(op, 0, INITIAL_CAPACITY, requested)
            if problem and shm.required:
                raise CommunicationError(
                    f"{comm.labels[comm.rank]}: transport 'shm' was requested but is impossible: "
                    f"{problem}. Use transport 'auto' (falls back to sockets) or 'socket'"
                )
    except BaseException:
        shm.close()
        raise
    if problem:
        logger.info("%s: socket transport, no shared memory: %s", comm.labels[comm.rank], problem)
        shm.close()
        return None
    logger.info(
        "%s: shared-memory transport (%d ranks) in %s",
        comm.labels[comm.rank],
        comm.world_size,
        shm.dir,
    )
    return shm


class ShmTransport:
    """Collectives through shared-memory segments, signalled over the ring sockets."""

    def __init__(self, comm: Communicator, required: bool) -> None:
        self.comm, self.required = comm, required
        self.dir, self._no_dir = segment_dir(comm.config.shm_dir)
        self.capacity = 0
        self._segments: list[Segment | PeerSegment] = []  # by rank; empty = not in use
        self._socket = SocketTransport(comm)
        self._calls = 0
        self._bounds: tuple[int, list[tuple[int, int]]] = (-1, [])
        self._signals: MemorySignals | None = None
        self._memory_ok, self._no_memory = memory_signals_possible(
            comm.config.requested_shm_signal()
        )  # the reason is logged if the group then signals over the sockets

    @property
    def name(self) -> str:
        return "shm" if self._segments else "socket"

    @property
    def signal_kind(self) -> str | None:
        if not self._segments:
            return None
        return "memory" if self._signals is not None else "socket"

    # -- collectives --------------------------------------------------------------------
    def all_reduce(self, buf: np.ndarray, *, compression: str | None = None) -> np.ndarray:
        check_flat(buf, "all_reduce", self.comm.world_size)
        get_codec(compression)
        if not self._reserve(buf.nbytes):
            return self._socket.all_reduce(buf, compression=compression)
        with self.comm.operation("all_reduce") as op:
            views, bounds = self._begin(buf.size)
            self._write_inputs(buf, views, bounds)
            self.signal(op, Phase.INPUTS, buf.nbytes)
            self._sum_own_shard(buf, views, bounds, publish=True)
            self.signal(op, Phase.SUMS, buf.nbytes)
            self._copy_others(buf, views, bounds)
        return buf

    def reduce_scatter(self, buf: np.ndarray, *, compression: str | None = None, bounds=None):
        """`bounds`: each rank's [start, stop) (default shard_bounds), as in collectives."""
        check_flat(buf, "reduce_scatter", self.comm.world_size)
        get_codec(compression)
        if not self._reserve(buf.nbytes):
            return self._socket.reduce_scatter(buf, compression=compression, bounds=bounds)
        with self.comm.operation("reduce_scatter") as op:
            views, default = self._begin(buf.size)
            bounds = bounds or default
            self._write_inputs(buf, views, bounds)
            self.signal(op, Phase.INPUTS, buf.nbytes)
            self._sum_own_shard(buf, views, bounds, publish=False)
        start, stop = bounds[self.comm.rank]
        return buf[start:stop]

    def all_gather(self, buf: np.ndarray, *, compression: str | None = None, bounds=None):
        check_flat(buf, "all_gather", self.comm.world_size)
        get_codec(compression)
        if not self._reserve(buf.nbytes):
            return self._socket.all_gather(buf, compression=compression, bounds=bounds)
        with self.comm.operation("all_gather") as op:
            views, default = self._begin(buf.size)
            bounds = bounds or default
            start, stop = bounds[self.comm.rank]
            np.copyto(views[self.comm.rank][start:stop], buf[start:stop])
            self.signal(op, Phase.SLICE, buf.nbytes)
            self._copy_others(buf, views, bounds)
        return buf

    def broadcast(self, buf: np.ndarray, root: int = 0) -> np.ndarray:
        check_flat(buf, "broadcast", self.comm.world_size)
        check_root(root, self.comm.world_size)
        if not self._reserve(buf.nbytes):
            return self._socket.broadcast(buf, root)
        with self.comm.operation("broadcast") as op:
            views, _ = self._begin(buf.size)
            if self.comm.rank == root:
                np.copyto(views[root], buf)
            self.signal(op, Phase.ROOT, buf.nbytes, root)  # all-to-all: keeps slots safe
            if self.comm.rank != root:
                np.copyto(buf, views[root])
        return buf

    def signal(self, op: Operation, phase: Phase, nbytes: int, arg: int = 0) -> None:
        """Tell every rank this one finished `phase`; return when all have (memory
        counters where sound, `shm_signal.py`; else control frames round the ring)."""
        if self._signals is not None:
            self._signals.signal(op, phase, nbytes, arg)
        else:
            exchange(self.comm, op, phase, nbytes, arg)

    def all_reduce_small(self, values: np.ndarray) -> np.ndarray:
        return self._socket.all_reduce_small(values)

    def barrier(self) -> None:
        self._socket.barrier()

    def close(self) -> None:
        """Unmap every segment (and unlink this rank's, if that did not happen yet)."""
        segments, self._segments = self._segments, []
        self._signals = None
        for segment in segments:
            segment.close()

    # -- data movement ------------------------------------------------------------------
    def _begin(self, size: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
        """This call's slot of every rank (alternating) and the shard bounds of `size`."""
        self._calls += 1
        slot = self._calls % 2
        if self._bounds[0] != size:
            n = self.comm.world_size
            self._bounds = (size, [shard_bounds(size, n, k) for k in range(n)])
        return [s.slots[slot][:size] for s in self._segments], self._bounds[1]

    def _write_inputs(self, buf: np.ndarray, views: list[np.ndarray], bounds) -> None:
        mine = views[self.comm.rank]
        start, stop = bounds[self.comm.rank]
        np.copyto(mine[:start], buf[:start])  # the own shard is read from buf directly
        np.copyto(mine[stop:], buf[stop:])

    def _sum_own_shard(self, buf: np.ndarray, views, bounds, publish: bool) -> None:
        """buf[own shard] = the sum over ranks in the socket ring's order (`ring_order`);
        also into the slot if publish.

        The other ranks' terms are summed in this rank's own slot, which no peer reads
        before SUMS; the own term comes last, added in place into buf (a + b is b + a to
        the bit, so that last add is the ring's). No copy beyond the publish: summing
        everything in the slot and copying it back cost ~10 % of a 16 MiB all-reduce on
        2 ranks and a copy of the shard in every reduce_scatter (lead, session 55).
        """
        r, n = self.comm.rank, self.comm.world_size
        start, stop = bounds[r]
        mine = buf[start:stop]
        others = [views[k][start:stop] for k in ring_order(r, n)[:-1]]  # the own one last
        if len(others) == 1:
            np.add(others[0], mine, out=mine)
        elif others:
            acc = views[r][start:stop]
            np.add(others[0], others[1], out=acc)
            for term in others[2:]:
                np.add(acc, term, out=acc)
            np.add(acc, mine, out=mine)
        if publish:
            np.copyto(views[r][start:stop], mine)

    def _copy_others(self, buf: np.ndarray, views: list[np.ndarray], bounds) -> None:
        for k, (start, stop) in enumerate(bounds):
            if k != self.comm.rank:
                np.copyto(buf[start:stop], views[k][start:stop])

    # -- segments -----------------------------------------------------------------------
    def _reserve(self, nbytes: int) -> bool:
        """True when the slots hold `nbytes` (growing them if needed); False = use sockets."""
        if not self._segments:
            return False  # fell back earlier
        if nbytes <= self.capacity:
            return True
        capacity = slot_capacity(nbytes, self.capacity)
        with self.comm.operation("the shared-memory segment growth") as op:
            problem = self.establish(op, nbytes, capacity)
            if problem and self.required:
                raise CommunicationError(
                    f"{self.comm.labels[self.comm.rank]}: cannot grow the shared-memory slots to "
                    f"{capacity} bytes: {problem}"
                )
        if problem:
            logger.warning(
                "%s: %s; falling back to the socket transport",
                self.comm.labels[self.comm.rank],
                problem,
            )
            self.close()
            return False
        return True

    def establish(self, op: Operation, nbytes: int, capacity: int, requested: str = "") -> str:
        """Create, offer, probe and install segments of `capacity` bytes per slot.

        Returns "" on success, else why shared memory cannot be used (the same text on
        every rank). Every file is unlinked before this returns or raises.
        """
        own, offer = self._offer(capacity, requested)
        names: list[str] = []
        peers: dict[int, PeerSegment] = {}
        try:
            bodies = exchange(self.comm, op, Phase.OFFER, nbytes, capacity, to_json(offer))
            offers = [parse_offer(body, self.comm.labels[k]) for k, body in enumerate(bodies)]
            names = [o["name"] for o in offers if o["name"]]
            self.required = self.required or any(o["transport"] == "shm" for o in offers)
            problem = offers_problem(offers)
            if not problem:
                peers, problem = self._map_peers(offers, capacity)
            bodies = exchange(self.comm, op, Phase.MAPPED, nbytes, capacity, to_json(problem))
        except BaseException:
            _close_all(own, peers)
            raise
        finally:
            self._unlink(names)  # all peers mapped them, or never will
        # The first problem by rank, from the bodies (this rank's own included): the same
        # text, and so the same decision, on every rank.
        problem = next((p for p in map(parse_problem, bodies) if p), "")
        if problem or own is None:
            _close_all(own, peers)
            return problem
        self.close()  # earlier, smaller segments: this rank's reads of them are done
        self._segments = [own if k == self.comm.rank else peers[k] for k in range(len(bodies))]
        self.capacity = capacity
        if all(o["signal"] == "memory" for o in offers):  # the same decision on every rank
            self._signals = MemorySignals(self.comm, [s.words for s in self._segments])
        else:
            logger.info(
                "rank %d: shared-memory phases signalled over the ring sockets: %s",
                self.comm.rank,
                self._no_memory or "another rank chose socket signals",
            )
        return ""

    def _offer(self, capacity: int, requested: str) -> tuple[Segment | None, dict[str, str]]:
        offer = {
            "host": self.comm.config.host_key or host_key(),
            "name": "",
            "token": "",
            "error": "",
            "transport": requested,
            "signal": "memory" if self._memory_ok else "socket",
        }
        rank = self.comm.labels[self.comm.rank]
        if self.dir is None:
            return None, {**offer, "error": f"{rank}: {self._no_dir}"}
        try:
            own = Segment.create(self.dir, capacity)
        except OSError as exc:
            size = segment_bytes(capacity)
            why = f"{rank} cannot create a {size}-byte segment in {self.dir}: {exc.strerror}"
            return None, {**offer, "error": why}
        return own, {**offer, "name": own.name, "token": own.token.hex()}

    def _map_peers(self, offers, capacity: int) -> tuple[dict[int, PeerSegment], str]:
        peers: dict[int, PeerSegment] = {}
        for k, offer in enumerate(offers):
            if k == self.comm.rank:
                continue
            try:
                peers[k] = PeerSegment.open(self.dir, offer["name"], capacity, offer["token"])
            except (CommunicationError, OSError) as exc:
                _close_all(None, peers)
                return {}, (
                    f"{self.comm.labels[self.comm.rank]} cannot map the segment of "
                    f"{self.comm.labels[k]}: {exc}; the "
                    f"ranks do not share {self.dir} (separate containers or mount "
                    "namespaces, or a different CommConfig.shm_dir)"
                )
        return peers, ""

    def _unlink(self, names: list[str]) -> None:
        """Unlink every rank's file, not only ours: a peer killed before its own unlink
        would otherwise leak it. A file already gone is fine."""
        for name in names:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.dir or "", name))


def ring_order(owner: int, world_size: int) -> list[int]:
    """The ranks in the order the socket ring adds their terms into `owner`'s shard:
    owner+1 first (it sends its term), then each rank the partial sum reaches, the owner
    last. Shared memory sums in the same order, so the two transports give the same bits
    for the same inputs (float addition is not associative: summed in rank order, 3 ranks
    differed from the ring in about 15 % of the elements), and a group that falls back to
    sockets (a failed growth, DLCORE_TRANSPORT=socket) computes what it would have computed
    on shared memory."""
    return [(owner + 1 + i) % world_size for i in range(world_size)]


def _close_all(own: Segment | None, peers: dict[int, PeerSegment]) -> None:
    if own is not None:
        own.close()
    for peer in peers.values():
        peer.close()
