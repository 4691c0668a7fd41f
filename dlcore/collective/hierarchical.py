"""Topology-aware collectives: shared memory within a host, TCP between hosts.

Owns: grouping the ranks by host key when a communicator is built (`negotiate`),
the two sub-rings each rank joins (its host's "local" ring and its "lane" across
hosts), and the hierarchical collectives (`HierarchicalTransport`). The algorithms
of the rings themselves stay in `collectives.py` and `shm.py`; both take explicit
per-rank bounds so this module can choose which rank sums which slice.

Why lanes, not one leader per host: with H hosts of m ranks each, local rank j of
every host forms lane j (H ranks, one per host, a TCP ring). The vector is split
into m regions; region j is reduced over the host's ranks through shared memory
into local rank j, then all-reduced over lane j between hosts, then copied back to
every local rank through shared memory. Each host sends 2(H-1)/H of the vector
over the network, as a leader would, but in m parallel streams (every NIC lane and
every core busy) and with no rank doing the whole cross-host sum alone. A flat
ring over the same ranks sends 2(n-1)/n of the vector on each of its links, and a
link between two hosts is crossed at least twice, so each host's network carries
at least 2(n-1)/n (host-contiguous ranks, 1.5 for 2x2) and up to m times that
(interleaved ranks).

Owner computes: rank k still owns `shard_bounds(L, n, k)`. The regions are built
from those shards: a work vector W lists the shards lane by lane (lane j = the
shards of the ranks with local index j, in host order), so region j is contiguous
and each lane member's shard is one contiguous piece of it. reduce_scatter packs
buf into W (no copy when the rank order already is lane-major), reduces region j
over the host into local rank j, reduce-scatters region j over the lane with the
shards as bounds (each shard summed once, by its owner), and copies the own shard
back. all_gather runs the same in reverse. Every shard's sum is computed once and
then copied, so all ranks end with identical bits.

Pipelining (local ring on shared memory, the usual case): W is not a separate vector but
this rank's own shm slot, and the local sums are not a phase before the lane: the lane
ring runs on region j of the slot with `RingHooks` - `fill` sums a chunk over the host
just before the ring first sends it or adds into it, `final` copies each finished chunk
into buf while the next one is on the wire (`shm_regions.Regions`). The local phases
are staged around the lane's first chunk (`started`): before the lane only the first
chunk of each other region's inputs is copied, the rest while that chunk is on the
wire; all_gather copies the host's other shards then too, and after the lane only the
pieces that came from the other hosts.

Fallbacks (the same decision on every rank, from the same exchanged host keys):
one host -> None (the communicator then picks shm as before); every host one rank
-> None (flat ring); hosts of unequal sizes -> "leader" mode: local all-reduce,
an all-reduce between the hosts' first ranks, local broadcast (correct, not
traffic-optimal; reduce_scatter and all_gather are all-reduces there).
all_reduce_small, barrier and broadcast are latency-bound and use the main ring.

Failure model: an error in any sub-ring breaks the main communicator, whose abort
breaks both sub-rings, so a rank waiting on another lane or host fails within
milliseconds instead of at its deadline. Sub-rings authenticate with a secret
derived from the job secret and their member list, so no connection of one ring
is accepted by another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcore.collective import shm_regions
from dlcore.collective.collectives import (
    RingHooks,
    SocketTransport,
    all_reduce_small,
    check_flat,
)
from dlcore.collective.compression import get_codec
from dlcore.collective.segment import host_key
from dlcore.collective.server import LISTEN_BACKLOG
from dlcore.collective.shm_control import Phase
from dlcore.collective.wire import open_listener
from dlcore.params import shard_bounds

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator

logger = logging.getLogger(__name__)

Bounds = list[tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each shard of a vector of `length` lives in the lane-major work vector."""

    length: int
    identity: bool  # W is buf itself
    pieces: dict[int, tuple[int, int]]  # global rank -> [start, stop) in W
    regions: Bounds  # by local index: region of each lane in W
    lane_bounds: Bounds  # this rank's lane: each member's piece, relative to its region


def plan_layout(length: int, hosts: list[list[int]], host: int, lane: int) -> Layout:
    """The lane-major layout for `hosts` (global ranks by host, equal sizes)."""
    n, m = sum(len(h) for h in hosts), len(hosts[0])
    order = [h[j] for j in range(m) for h in hosts]
    pieces, offset = {}, 0
    for k in order:
        start, stop = shard_bounds(length, n, k)
        pieces[k] = (offset, offset + stop - start)
        offset += stop - start
    regions = [(pieces[hosts[0][j]][0], pieces[hosts[-1][j]][1]) for j in range(m)]
    base = regions[lane][0]
    lane_bounds = [(pieces[h[lane]][0] - base, pieces[h[lane]][1] - base) for h in hosts]
    return Layout(length, order == list(range(n)), pieces, regions, lane_bounds)


def group_hosts(keys: list[int]) -> list[list[int]]:
    """Global ranks grouped by host key; hosts ordered by their lowest rank."""
    hosts: dict[int, list[int]] = {}
    for rank, key in enumerate(keys):
        hosts.setdefault(key, []).append(rank)
    return list(hosts.values())


def negotiate(comm: Communicator) -> HierarchicalTransport | None:
    """The hierarchical transport if this group spans hosts with several ranks, else None."""
    if comm.config.requested_topology() == "flat" or comm.world_size == 1:
        return None
    listeners = [open_listener(comm.config.listen_host, backlog=LISTEN_BACKLOG) for _ in range(2)]
    try:
        hosts, ports = _exchange(comm, [s.getsockname()[1] for s in listeners])
        if len(hosts) == 1 or all(len(h) == 1 for h in hosts):
            why = "one host" if len(hosts) == 1 else "one rank per host"
            logger.info("rank %d: flat topology (%s)", comm.rank, why)
            return None
        return HierarchicalTransport.connect(comm, hosts, ports, listeners)
    finally:
        for listener in listeners:
            listener.close()


def _exchange(comm: Communicator, ports: list[int]) -> tuple[list[list[int]], np.ndarray]:
    """Every rank's host key and sub-ring ports, via one exact all_reduce_small."""
    n, r = comm.world_size, comm.rank
    key = comm.config.host_key or host_key()
    table = np.zeros((3, n), dtype=np.float64)
    table[0, r] = int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)  # < 2**48: exact
    table[1:, r] = ports
    table = all_reduce_small(comm, table)
    return group_hosts([int(k) for k in table[0]]), table[1:].astype(np.int64)


class HierarchicalTransport:
    """Collectives over a local (shared-memory) ring and a cross-host lane (TCP) ring."""

    name = "hierarchical"

    def __init__(self, comm, hosts, local, lane) -> None:
        self.comm, self.hosts, self.local, self.lane = comm, hosts, local, lane
        self.host = next(i for i, h in enumerate(hosts) if comm.rank in h)
        self.index = hosts[self.host].index(comm.rank)
        self.regular = len({len(h) for h in hosts}) == 1
        self._flat = SocketTransport(comm)
        # Lane i's members (global ranks, host order): whose shards make up region i.
        self._lanes = [[h[i] for h in hosts] for i in range(len(hosts[0]))] if self.regular else []
        self._layout: Layout | None = None
        self._work = np.empty(0, dtype=np.float32)

    @classmethod
    def connect(cls, comm, hosts, ports, listeners) -> HierarchicalTransport:
        from dlcore.collective.communicator import Communicator  # circular at import time

        host = next(h for h in hosts if comm.rank in h)
        j = host.index(comm.rank)
        regular = len({len(h) for h in hosts}) == 1
        lane = [h[j] for h in hosts] if regular else ([h[0] for h in hosts] if j == 0 else [])
        config = dataclasses.replace(comm.config, topology="flat")
        rings: list[Any] = []
        try:
            for kind, members, listener, port_row, transport in (
                ("local", host, listeners[0], ports[0], config.transport),
                ("lane", lane, listeners[1], ports[1], "socket"),
            ):
                rings.append(
                    _sub_ring(Communicator, comm, kind, members, listener, port_row, transport)
                )
        except BaseException:
            for ring in rings:
                if ring is not None:
                    ring.close()
            raise
        mode = "lanes" if regular else "leader"
        logger.info(
            "rank %d/%d: hierarchical topology (%s mode), hosts %s; local %s, lane %s",
            comm.rank, comm.world_size, mode, hosts, rings[0].transport,
            rings[1].transport if rings[1] else "none",
        )  # fmt: skip
        return cls(comm, hosts, rings[0], rings[1])

    @property
    def signal_kind(self) -> str | None:
        """The local ring's shared-memory signal ("memory" / "socket"), None without one
        (a host of one rank, or sockets within hosts): `Communicator.shm_signal`."""
        return self.local.shm_signal

    # -- collectives --------------------------------------------------------------------
    def all_reduce(self, buf: np.ndarray, *, compression: str | None = None) -> np.ndarray:
        check_flat(buf, "all_reduce", self.comm.world_size)
        get_codec(compression)
        with self.comm.operation("all_reduce (hierarchical)"):
            if not self.regular:
                return self._leader_all_reduce(buf, compression)
            if shm_regions.usable(self.local, buf.nbytes):
                regions = shm_regions.Regions(self, buf, "all_reduce")
                regions.write_inputs()
                self._lane("all_reduce", regions, compression, regions.reduce_hooks())
                regions.own_shards()  # if no chunk came from another host, or a lossy codec
                regions.finish(Phase.SUMS)
                return buf
            work, layout = self._reduce_locally(buf)
            lo, hi = layout.regions[self.index]
            self.lane._transport.all_reduce(
                work[lo:hi], compression=compression, bounds=layout.lane_bounds
            )
            self._gather_locally(buf, work, layout)
        return buf

    def reduce_scatter(self, buf: np.ndarray, *, compression: str | None = None) -> np.ndarray:
        check_flat(buf, "reduce_scatter", self.comm.world_size)
        get_codec(compression)
        start, stop = self.comm.shard_bounds(buf.size)
        with self.comm.operation("reduce_scatter (hierarchical)"):
            if not self.regular:
                self._leader_all_reduce(buf, compression)
                return buf[start:stop]
            if shm_regions.usable(self.local, buf.nbytes):
                regions = shm_regions.Regions(self, buf, "reduce_scatter")
                regions.write_inputs()
                self._lane("reduce_scatter", regions, compression, regions.reduce_hooks())
                return buf[start:stop]
            work, layout = self._reduce_locally(buf)
            lo, hi = layout.regions[self.index]
            self.lane._transport.reduce_scatter(
                work[lo:hi], compression=compression, bounds=layout.lane_bounds
            )
            a, b = layout.pieces[self.comm.rank]
            if work is not buf:
                buf[start:stop] = work[a:b]
        return buf[start:stop]

    def all_gather(self, buf: np.ndarray, *, compression: str | None = None) -> np.ndarray:
        check_flat(buf, "all_gather", self.comm.world_size)
        get_codec(compression)
        start, stop = self.comm.shard_bounds(buf.size)
        with self.comm.operation("all_gather (hierarchical)"):
            if not self.regular:  # own slice plus zeros, summed: exact
                buf[:start] = 0.0
                buf[stop:] = 0.0
                return self._leader_all_reduce(buf, compression)
            if shm_regions.usable(self.local, buf.nbytes):
                regions = shm_regions.Regions(self, buf, "all_gather")
                self._lane("all_gather", regions, compression, regions.gather_hooks())
                regions.own_shards()  # if no chunk came from another host, or a lossy codec
                regions.finish(Phase.GATHERED)
                return buf
            layout = self._layout_for(buf.size)
            work = buf if layout.identity else self._work[: buf.size]
            lo, hi = layout.regions[self.index]
            a, b = layout.pieces[self.comm.rank]
            if work is not buf:
                work[a:b] = buf[start:stop]
            self.lane._transport.all_gather(
                work[lo:hi], compression=compression, bounds=layout.lane_bounds
            )
            self._gather_locally(buf, work, layout)
        return buf

    def broadcast(self, buf: np.ndarray, root: int = 0) -> np.ndarray:
        return self._flat.broadcast(buf, root)

    def all_reduce_small(self, values: np.ndarray) -> np.ndarray:
        return self._flat.all_reduce_small(values)

    def barrier(self) -> None:
        self._flat.barrier()

    def abort(self, reason: str) -> None:
        """Break both sub-rings too, so ranks waiting on them fail at once."""
        for ring in (self.local, self.lane):
            if ring is not None:
                ring.abort(f"rank {self.comm.rank} broke: {reason}")

    def close(self) -> None:
        for ring in (self.local, self.lane):
            if ring is not None:
                ring.close()

    # -- helpers ------------------------------------------------------------------------
    def _leader_all_reduce(self, buf: np.ndarray, compression: str | None) -> np.ndarray:
        self.local.all_reduce(buf)
        if self.lane is not None:
            self.lane.all_reduce(buf, compression=compression)
        self.local.broadcast(buf, root=0)
        return buf

    def _lane(
        self, name: str, regions: shm_regions.Regions, compression: str | None, hooks: RingHooks
    ) -> None:
        """The lane ring's `name` on region j of the own slot, pipelined through `hooks`
        with the local phases (see shm_regions)."""
        collective = getattr(self.lane._transport, name)
        collective(regions.region, compression=compression,
                   bounds=regions.layout.lane_bounds, hooks=hooks)  # fmt: skip
        if not get_codec(compression).lossless:
            regions.final_all()  # the ring reports final chunks only when lossless

    def _reduce_locally(self, buf: np.ndarray) -> tuple[np.ndarray, Layout]:
        """Local ring over sockets: pack into the lane-major work vector, region ring."""
        layout = self._layout_for(buf.size)
        work = self._pack(buf, layout)
        self.local._transport.reduce_scatter(work, bounds=layout.regions)
        return work, layout

    def _gather_locally(self, buf: np.ndarray, work: np.ndarray, layout: Layout) -> None:
        n = self.comm.world_size
        self.local._transport.all_gather(work, bounds=layout.regions)
        if work is not buf:
            for k, (a, b) in layout.pieces.items():
                start, stop = shard_bounds(buf.size, n, k)
                buf[start:stop] = work[a:b]

    def _layout_for(self, length: int) -> Layout:
        if self._layout is None or self._layout.length != length:
            self._layout = plan_layout(length, self.hosts, self.host, self.index)
            if self._work.size < length:
                self._work = np.empty(length, dtype=np.float32)
        return self._layout

    def _pack(self, buf: np.ndarray, layout: Layout) -> np.ndarray:
        if layout.identity:
            return buf
        work = self._work[: buf.size]
        n = self.comm.world_size
        for k, (a, b) in layout.pieces.items():
            start, stop = shard_bounds(buf.size, n, k)
            work[a:b] = buf[start:stop]
        return work


def _sub_ring(cls, comm, kind, members, listener, port_row, transport):
    """This rank's Communicator over `members` (global ranks), or None if not a member."""
    if comm.rank not in members:
        return None
    config = dataclasses.replace(comm.config, topology="flat", transport=transport)
    peers = [(comm.peers[k][0], int(port_row[k])) for k in members]
    labels = [f"rank {k}" for k in members]
    tag = f"dlcore.collective/{kind}/{comm.member.round_id}/{members}".encode()
    secret = hmac.new(comm._secret, tag, hashlib.sha256).digest()
    member = type(comm.member)(members.index(comm.rank), len(members), comm.member.round_id)
    return cls(member, peers, secret, listener if len(members) > 1 else None, config, labels)
