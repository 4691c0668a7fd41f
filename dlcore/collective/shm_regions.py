"""The local (shared-memory) phases of the hierarchical collectives, pipelined with the lane.

Owns `Regions`: one hierarchical call's view of the host's shared-memory slots when the
local ring's transport is shared memory. The lane ring (TCP between hosts) runs on this
rank's own slot, region j (j = this rank's local index), so nothing is copied between a
work vector and the slots:

    all_reduce      inputs, first stage: copy buf's pieces of the other regions that
                    their lanes fill first (the first chunk each lane sends) into the own
                    slot; signal INPUTS. Lane all-reduce on region j with hooks: once
                    the lane's first chunk is queued (`started`), copy the rest of the
                    inputs while that chunk is on the wire and signal INPUTS_REST; `fill`
                    sums a chunk over the host's ranks (local-rank order, buf for the own
                    term, the peers' slots for theirs) just before the ring sends it or
                    adds a received chunk into it; `final` copies each finished chunk into
                    buf while the next one is on the wire, and at the first chunk that
                    comes from another host (the own shard is final by then) signals SLICE
                    and copies the host's other shards from their owners' slots. After
                    the lane, signal SUMS and copy the rest of the other regions.
    reduce_scatter  the same up to the lane reduce-scatter (`final` of the own piece is
                    the own shard: copied into buf).
    all_gather      a lane all-gather straight into region j of the slot: `fill` puts
                    each chunk of the own shard there just before the lane sends it,
                    `final` copies each arriving chunk into buf; at the first arriving
                    chunk (the own shard is then all in the slot and the wire busy) signal
                    SLICE and copy the host's other shards; after the lane, signal
                    GATHERED and copy the pieces the other lanes brought from the other
                    hosts.

So per call and rank the memory traffic outside the wire phase is one lane chunk per
other region before it (all_reduce, reduce_scatter) and (m-1)/m (H-1)/H of the vector
after it (all_reduce, all_gather; m = ranks per host, H = hosts); the sums, the rest of
the inputs, the host's shards and the own region's copies run while the wire is busy.
No extra signal can deadlock: INPUTS_REST is sent from a point every rank reaches
without waiting on any peer (right after its lane queued its first chunk), and a rank
reaches its first chunk from another host (SLICE) once the lane's reduction (or, in
all_gather, its lane partner's start) is done, which never waits on a SLICE.

Slots: one `_begin` per call (the slots alternate as in `shm.py`); peers read this
rank's other regions only after its INPUTS / INPUTS_REST signals, its own shard only
after its SLICE signal and the rest of region j only after its SUMS or GATHERED signal;
this rank writes region j of its own slot between those, at places no peer reads then.
Every call ends with a signal after its writes (reduce_scatter: its peers never read
region j), so the argument in `shm.py` (a slot is rewritten only after every rank's
frame of the next call) holds.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import numpy as np

from dlcore.collective.collectives import RingHooks
from dlcore.collective.shm import ShmTransport
from dlcore.collective.shm_control import Phase
from dlcore.params import shard_bounds

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator
    from dlcore.collective.hierarchical import HierarchicalTransport, Layout

Places = list[tuple[tuple[int, int], tuple[int, int]]]  # (place in the slot, place in buf)


def usable(local: Communicator, nbytes: int) -> bool:
    """True when the local ring moves data through shared memory (grown to `nbytes`)."""
    transport = local._transport
    return isinstance(transport, ShmTransport) and transport._reserve(nbytes)


class Regions:
    """One hierarchical call's slots: region j of the own slot is the lane ring's buffer.

    `owner`: the hierarchical transport (its layout for `buf`, lanes, host and lane ring);
    `name`: the collective, for error messages.
    """

    def __init__(self, owner: HierarchicalTransport, buf: np.ndarray, name: str) -> None:
        self.local, self.buf, self.name = owner.local, buf, name
        self.layout = layout = owner._layout_for(buf.size)
        self.lanes, self.n, self.host = owner._lanes, owner.comm.world_size, owner.host
        self.j = self.local.rank
        self.transport: ShmTransport = self.local._transport
        self.views, _ = self.transport._begin(buf.size)
        lo, hi = layout.regions[self.j]
        self.lo = lo
        self.region = self.views[self.j][lo:hi]
        self._starts = [a for a, _ in layout.lane_bounds]
        self._buf_starts = [shard_bounds(buf.size, self.n, k)[0] for k in self.lanes[self.j]]
        chunk = max(1, owner.lane.config.chunk_bytes // 4)
        self._first_inputs, self._rest_inputs = input_stages(
            layout, self.lanes, self.j, self.host, chunk
        )
        self._own_shards_done = False
        self._own = layout.lane_bounds[self.host]  # this rank's shard in region j

    # -- phases -------------------------------------------------------------------------
    def write_inputs(self) -> None:
        """First stage: the own slot := buf's first lane chunk of every other region."""
        self._copy_in(self._first_inputs)
        self._signal(Phase.INPUTS)

    def inputs_rest(self) -> None:
        """Second stage (the lane's `started` hook): every other input, then signal."""
        self._copy_in(self._rest_inputs)
        self._signal(Phase.INPUTS_REST)

    def reduce_hooks(self) -> RingHooks:
        """The lane's hooks in all_reduce and reduce_scatter."""
        return RingHooks(fill=self.fill, final=self.gathered, started=self.inputs_rest)

    def gather_hooks(self) -> RingHooks:
        """The lane's hooks in all_gather: put the own shard chunk by chunk as the lane
        sends it; on the first gathered chunk (every own chunk is queued by then, the
        wire is busy) signal SLICE and copy the host's other shards; copy each gathered
        chunk into buf."""
        return RingHooks(fill=self.put, final=self.gathered)

    def put(self, a: int, b: int) -> None:
        """region[a:b] := buf's values there (a chunk of the own shard, all_gather)."""
        s = self._buf_place(a)
        np.copyto(self.region[a:b], self.buf[s : s + b - a])

    def gathered(self, a: int, b: int) -> None:
        """`final`, and at the first chunk from another host (the own shard is final and
        in the slot by then, the wire busy) `own_shards`."""
        if not self._own[0] <= a < self._own[1]:
            self.own_shards()
        self.final(a, b)

    def own_shards(self) -> None:
        """Once per call: signal SLICE, then copy the host's other shards into buf."""
        if not self._own_shards_done:
            self._own_shards_done = True
            self._signal(Phase.SLICE)
            self._copy_out(self._others(this_host=True))

    def fill(self, a: int, b: int) -> None:
        """region[a:b] := the host's sum of that chunk, in local-rank order."""
        s = self._buf_place(a)
        lo = self.lo
        terms = [
            self.buf[s : s + b - a] if i == self.j else view[lo + a : lo + b]
            for i, view in enumerate(self.views)
        ]
        out = self.region[a:b]
        np.add(terms[0], terms[1], out=out)
        for term in terms[2:]:
            np.add(out, term, out=out)

    def final(self, a: int, b: int) -> None:
        """buf := region[a:b], final (a chunk of this rank's lane result)."""
        s = self._buf_place(a)
        np.copyto(self.buf[s : s + b - a], self.region[a:b])

    def final_all(self) -> None:
        """Every piece of region j into buf (when the ring could not report chunks)."""
        for a, b in self.layout.lane_bounds:
            if b > a:
                self.final(a, b)

    def finish(self, phase: Phase) -> None:
        """After `own_shards`: signal that region j is final, then copy the other
        regions' pieces from the other hosts into buf."""
        self._signal(phase)
        self._copy_out(self._others(this_host=False))

    # -- helpers ------------------------------------------------------------------------
    def _signal(self, phase: Phase) -> None:
        with self.local.operation(f"{self.name} (hierarchical, shared memory)") as op:
            self.transport.signal(op, phase, self.buf.nbytes)

    def _copy_in(self, todo: Places) -> None:
        mine = self.views[self.j]
        for (a, b), (s, e) in todo:
            np.copyto(mine[a:b], self.buf[s:e])

    def _copy_out(self, todo: list[tuple[int, Places]]) -> None:
        for i, region_places in todo:
            for (a, b), (s, e) in region_places:
                np.copyto(self.buf[s:e], self.views[i][a:b])

    def _others(self, this_host: bool) -> list[tuple[int, Places]]:
        """Each other region's places: only this host's piece, or all but it."""
        out = []
        for i, ranks in enumerate(self.lanes):
            if i != self.j:
                keep = [k for h, k in enumerate(ranks) if (h == self.host) == this_host]
                out.append((i, self._places(keep)))
        return out

    def _places(self, ranks: list[int]) -> Places:
        return places(self.layout, ranks, self.n)

    def _buf_place(self, a: int) -> int:
        """Where region-relative index `a` lives in buf (a chunk never spans two pieces)."""
        h = bisect.bisect_right(self._starts, a) - 1
        return self._buf_starts[h] + a - self._starts[h]


def places(layout: Layout, ranks: list[int], n: int) -> Places:
    """(place in the work layout, place in buf) of each rank's shard (n ranks in all)."""
    return [(layout.pieces[k], shard_bounds(layout.length, n, k)) for k in ranks]


def input_stages(
    layout: Layout, lanes: list[list[int]], j: int, host: int, chunk: int
) -> tuple[Places, Places]:
    """Local rank j's input places for the other regions, in two stages: first, the
    first chunk each other region's lane fills (the piece of the lane member on the
    previous host, which ring step 0 sends); then everything else. `lanes[i]`: lane i's
    members (global ranks) in host order; `host`: this rank's host index."""
    n = sum(len(ranks) for ranks in lanes)
    first_host = (host - 1) % len(lanes[0])
    first: Places = []
    rest: Places = []
    for i, ranks in enumerate(lanes):
        if i == j:
            continue
        for h, ((a, b), (s, e)) in enumerate(places(layout, ranks, n)):
            cut = min(b, a + chunk) if h == first_host else a
            if cut > a:
                first.append(((a, cut), (s, s + cut - a)))
            rest.append(((cut, b), (s + cut - a, e)))
    return first, rest
