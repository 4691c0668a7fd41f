"""The local (shared-memory) phases of the hierarchical collectives, pipelined with the lane.

Owns `Regions`: one hierarchical call's view of the host's shared-memory slots when the
local ring's transport is shared memory. The lane ring (TCP between hosts) runs on this
rank's own slot, region j (j = this rank's local index), so nothing is copied between a
work vector and the slots:

    all_reduce      inputs: copy buf's pieces of the other regions into the own slot;
                    signal INPUTS. lane all-reduce on region j with hooks: `fill` sums a
                    chunk over the host's ranks (local-rank order, buf for the own term,
                    the peers' slots for theirs) just before the ring sends it or adds a
                    received chunk into it, so the wire starts after one chunk; `final`
                    copies each finished chunk into buf while the next one is on the wire.
                    signal SUMS; copy the other regions from their owners' slots into buf.
    reduce_scatter  inputs, then a lane reduce-scatter with the same hooks (`final` of the
                    own piece is the own shard: copied into buf).
    all_gather      the own shard into its place in region j, a lane all-gather straight
                    into the slot (`final` copies each arriving chunk into buf), signal
                    SLICE, copy the other regions.

So per call and rank the memory traffic outside the wire phase is one copy of (m-1)/m of
the vector before it (the inputs; m = ranks per host) and one after it (the other
regions), and the sums and the own region's copies run while the wire is busy.

Slots: one `_begin` per call (the slots alternate as in `shm.py`); peers read this
rank's other regions only after its INPUTS signal and its region j only after its SUMS
or SLICE signal; this rank writes region j of its own slot between the two, which no
peer reads then. Every call ends with a signal after its writes, so the argument in
`shm.py` (a slot is rewritten only after every rank's frame of the next call) holds.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import numpy as np

from dlcore.collective.shm import ShmTransport
from dlcore.collective.shm_control import Phase, exchange
from dlcore.params import shard_bounds

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator
    from dlcore.collective.hierarchical import Layout


def usable(local: Communicator, nbytes: int) -> bool:
    """True when the local ring moves data through shared memory (grown to `nbytes`)."""
    transport = local._transport
    return isinstance(transport, ShmTransport) and transport._reserve(nbytes)


class Regions:
    """One hierarchical call's slots: region j of the own slot is the lane ring's buffer.

    `lanes[i]`: the global ranks whose shards make up region i (lane i's members, host
    order); `n`: the world size of the whole group.
    """

    def __init__(
        self, local: Communicator, buf: np.ndarray, layout: Layout, lanes: list[list[int]], n: int
    ) -> None:
        transport: ShmTransport = local._transport
        self.local, self.buf, self.layout, self.lanes, self.n = local, buf, layout, lanes, n
        self.j = local.rank
        self.views, _ = transport._begin(buf.size)
        lo, hi = layout.regions[self.j]
        self.lo = lo
        self.region = self.views[self.j][lo:hi]
        self._starts = [a for a, _ in layout.lane_bounds]
        self._buf_starts = [shard_bounds(buf.size, n, k)[0] for k in lanes[self.j]]

    # -- phases -------------------------------------------------------------------------
    def write_inputs(self, name: str) -> None:
        """The own slot := buf's pieces of every other region; then signal INPUTS."""
        mine = self.views[self.j]
        for i, ranks in enumerate(self.lanes):
            if i != self.j:
                for (a, b), (s, e) in self._places(ranks):
                    np.copyto(mine[a:b], self.buf[s:e])
        self._signal(name, Phase.INPUTS)

    def put_own(self, rank: int) -> None:
        """Region j := buf's own shard at its place (all_gather's input)."""
        (a, b), (s, e) = next(self._places([rank]))
        np.copyto(self.views[self.j][a:b], self.buf[s:e])

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

    def finish(self, name: str, phase: Phase) -> None:
        """Signal that region j is final, then copy every other region into buf."""
        self._signal(name, phase)
        for i, ranks in enumerate(self.lanes):
            if i != self.j:
                for (a, b), (s, e) in self._places(ranks):
                    np.copyto(self.buf[s:e], self.views[i][a:b])

    # -- helpers ------------------------------------------------------------------------
    def _signal(self, name: str, phase: Phase) -> None:
        with self.local.operation(f"{name} (hierarchical, shared memory)") as op:
            exchange(self.local, op, phase, self.buf.nbytes)

    def _places(self, ranks: list[int]):
        """(place in the work layout, place in buf) of each rank's shard."""
        for k in ranks:
            yield self.layout.pieces[k], shard_bounds(self.layout.length, self.n, k)

    def _buf_place(self, a: int) -> int:
        """Where region-relative index `a` lives in buf (a chunk never spans two pieces)."""
        h = bisect.bisect_right(self._starts, a) - 1
        return self._buf_starts[h] + a - self._starts[h]
