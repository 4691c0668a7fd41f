"""The local (shared-memory) phases of the hierarchical collectives, straight from the buffer.

Owns two calls on a host's local ring whose transport is shared memory: `reduce_regions`
(every local rank's buffer is reduced over the host into region j of a lane-major work
vector, by local rank j) and `gather_regions` (every local rank's lane-gathered region
goes back into every local rank's buffer). The layout (which shard of the buffer lives
where in the work vector) comes from `hierarchical.plan_layout`; the slots, their
alternation and the all-to-all signals are `shm.ShmTransport`'s, used exactly as its own
reduce_scatter and all_gather use them (one signal per call, peers' slots read only
after it), so the slot-reuse argument in `shm.py` holds unchanged.

Why not pack the buffer into the work vector and call the shm transport with region
bounds: that costs two extra copies of the whole vector per call (pack, unpack), which
on a busy host is a visible share of a collective. Here each shard is copied once into
this rank's slot at its lane-major place, and gathered shards are copied once from the
owner's slot straight back into the buffer. Sums run in local-rank order, so every
region's bits are the same whichever rank computes them.
"""

from __future__ import annotations

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


def _places(layout: Layout, ranks: list[int], n: int):
    """(place in the work vector, place in the buffer) of each rank's shard."""
    for k in ranks:
        yield layout.pieces[k], shard_bounds(layout.length, n, k)


def reduce_regions(
    local: Communicator, buf: np.ndarray, layout: Layout, regions: list[list[int]], work, n: int
) -> None:
    """work[region j] = the host's sum of buf over region j (j = this local rank).

    `regions[i]`: the global ranks whose shards make up region i (lane i's members).
    """
    transport: ShmTransport = local._transport
    j = local.rank
    with local.operation("reduce_scatter (hierarchical, shared memory)") as op:
        views, _ = transport._begin(buf.size)
        mine = views[j]
        for i, ranks in enumerate(regions):
            if i != j:
                for (a, b), (s, e) in _places(layout, ranks, n):
                    mine[a:b] = buf[s:e]
        exchange(local, op, Phase.INPUTS, buf.nbytes)
        for (a, b), (s, e) in _places(layout, regions[j], n):
            terms = [buf[s:e] if i == j else view[a:b] for i, view in enumerate(views)]
            out = work[a:b]
            np.add(terms[0], terms[1], out=out)
            for term in terms[2:]:
                np.add(out, term, out=out)


def gather_regions(
    local: Communicator, buf: np.ndarray, layout: Layout, regions: list[list[int]], work, n: int
) -> None:
    """buf = every region, each from the local rank that holds it (this one's from work)."""
    transport: ShmTransport = local._transport
    j = local.rank
    with local.operation("all_gather (hierarchical, shared memory)") as op:
        views, _ = transport._begin(buf.size)
        lo, hi = layout.regions[j]
        np.copyto(views[j][lo:hi], work[lo:hi])
        exchange(local, op, Phase.SLICE, buf.nbytes)
        for i, ranks in enumerate(regions):
            source = work if i == j else views[i]
            for (a, b), (s, e) in _places(layout, ranks, n):
                buf[s:e] = source[a:b]
