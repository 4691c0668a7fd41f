"""Ring collectives on a flat float32 vector: reduce-scatter, all-gather, all-reduce.

Owns the algorithms of the socket transport (`SocketTransport`) and the checks every
transport shares; `communicator.py` owns the sockets, `shm.py` the shared-memory
transport. The all-reduce is the
bandwidth-optimal ring of Patarasuk & Yuan (2009), "Bandwidth optimal all-reduce
algorithms for clusters of workstations": a reduce-scatter followed by an
all-gather, each n-1 steps, so every rank sends and receives 2(n-1)/n of the
buffer whatever n is. This is BigDL's AllReduceParameter pattern: after the
reduce-scatter, rank r holds the summed gradient of exactly the slice
`dlcore.params.shard_bounds(len, n, r)`, updates it with the optimizer, and the
all-gather hands the updated slices to everybody.

Step j of the ring (j = 0 .. 2n-3; reduce-scatter is j < n-1, all-gather the rest):
rank r sends segment (r-j-1) mod n to rank r+1 and receives segment (r-j-2) mod n
from rank r-1, adding it (reduce) or copying it (gather). What a rank sends at step
j+1 is what it received at step j, so the two phases chain and the transfer is
pipelined in chunks: a chunk is forwarded as soon as it is reduced, while the next
one is still arriving. Sends run on the communicator's sender thread and receives
on the caller's, which keeps both directions of every link busy and cannot deadlock.

Every segment's sum is computed once, by its owner, and then copied, so all ranks
end with identical bits. Small float64 reductions (loss sums, gradient norms, LARS
partial norms) pass each rank's array around the ring and sum them in rank order,
so their result is also bit-identical everywhere (clipping decisions agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlcore.collective.compression import CODE, Codec, get_codec
from dlcore.collective.wire import (
    HEADER,
    MAX_TENSOR_FRAME,
    TRAILER,
    FrameHeader,
    Kind,
    byte_view,
    check_header,
    pack_header,
    parse_header,
    recv_checked,
    recv_exact,
    recv_header,
    send_bytes,
    trailer,
    verify,
)
from dlcore.errors import ConfigError, FrameError, ShapeError
from dlcore.params import shard_bounds

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator, Operation

SMALL_MAX_ELEMENTS = 8192  # 64 KiB per rank: always fits the kernel socket buffers


class SocketTransport:
    """The TCP ring: this module's collectives, bound to one communicator."""

    def __init__(self, comm: Communicator) -> None:
        self.comm = comm

    @property
    def name(self) -> str:
        return "socket" if self.comm.world_size > 1 else "none"

    def all_reduce(self, buf, *, compression: str | None = None, bounds=None, hooks=None):
        return all_reduce(self.comm, buf, compression=compression, bounds=bounds, hooks=hooks)

    def reduce_scatter(self, buf, *, compression: str | None = None, bounds=None, hooks=None):
        return reduce_scatter(self.comm, buf, compression=compression, bounds=bounds, hooks=hooks)

    def all_gather(self, buf, *, compression: str | None = None, bounds=None, hooks=None):
        return all_gather(self.comm, buf, compression=compression, bounds=bounds, hooks=hooks)

    def broadcast(self, buf: np.ndarray, root: int = 0) -> np.ndarray:
        return broadcast(self.comm, buf, root)

    def all_reduce_small(self, values: np.ndarray) -> np.ndarray:
        return all_reduce_small(self.comm, values)

    def barrier(self) -> None:
        barrier(self.comm)

    def close(self) -> None:
        """Nothing to release: the communicator owns the sockets."""


def check_flat(buf: np.ndarray, op: str, world_size: int) -> None:
    if not isinstance(buf, np.ndarray) or buf.dtype != np.float32 or buf.ndim != 1:
        got = f"{buf.dtype} {buf.shape}" if isinstance(buf, np.ndarray) else type(buf).__name__
        raise ShapeError(f"{op} needs a flat float32 numpy vector. Received: {got}")
    if not (buf.flags.c_contiguous and buf.flags.writeable):
        raise ShapeError(f"{op} works in place and needs a contiguous, writeable vector")
    if buf.nbytes > MAX_TENSOR_FRAME * world_size:
        raise ShapeError(f"{op}: {buf.nbytes} bytes exceed {MAX_TENSOR_FRAME} bytes per rank")


Bounds = list[tuple[int, int]]


@dataclass(frozen=True)
class RingHooks:
    """Callbacks that let a caller pipeline its own work with the ring's transfers.

    `fill(a, b)`: called once per chunk [a, b) of the buffer, just before the ring first
    reads it (sends it, or adds a received chunk into it), in reduce-scatter and
    all-reduce, and in all_gather for the chunks of the own segment before they are sent;
    the caller writes its input there (the hierarchical topology sums the host's ranks
    into it, so the wire starts after one chunk, not after the whole sum).
    `final(a, b)`: called when buf[a:b] holds its final value (the own segment after
    its last addition, every gathered chunk on arrival); only with a lossless codec.
    The own segment of a pure all_gather is not reported. Every chunk this rank sends
    first is queued before the first `final` call.
    `started()`: called once per pass, right after the first chunk this rank sends (or
    the empty segment's header) is queued and before anything is received, so the
    caller can do work that the wire then hides (the hierarchical topology copies the
    rest of its shared-memory inputs there). Every rank reaches it without waiting on
    any peer. The chunks after the first one are filled only after it returns.
    """

    fill: Callable[[int, int], None] | None = None
    final: Callable[[int, int], None] | None = None
    started: Callable[[], None] | None = None


def all_reduce(
    comm: Communicator,
    buf: np.ndarray,
    *,
    compression: str | None = None,
    bounds: Bounds | None = None,
    hooks: RingHooks | None = None,
):
    """Sum `buf` over all ranks, in place. Returns `buf`.

    `bounds` (one [start, stop) per rank, contiguous, covering `buf`; default
    shard_bounds) says which segment each rank owns and sums; the hierarchical
    topology passes its own.
    """
    check_flat(buf, "all_reduce", comm.world_size)
    codec = get_codec(compression)
    if comm.world_size > 1:
        with comm.operation("all_reduce") as op:
            _Ring(comm, buf, codec, op, bounds, hooks).run(first=0, steps=2 * (comm.world_size - 1))
    return buf


def reduce_scatter(
    comm: Communicator,
    buf: np.ndarray,
    *,
    compression: str | None = None,
    bounds: Bounds | None = None,
    hooks: RingHooks | None = None,
):
    """Sum `buf` over ranks into this rank's own slice; returns a view of that slice.

    The slice is `shard_bounds(len(buf), world_size, rank)` (or `bounds[rank]`). The
    rest of `buf` is left holding partial sums; treat it as scratch.
    """
    check_flat(buf, "reduce_scatter", comm.world_size)
    codec = get_codec(compression)
    if comm.world_size > 1:
        with comm.operation("reduce_scatter") as op:
            _Ring(comm, buf, codec, op, bounds, hooks).run(first=0, steps=comm.world_size - 1)
    start, stop = comm.shard_bounds(buf.size) if bounds is None else bounds[comm.rank]
    return buf[start:stop]


def all_gather(
    comm: Communicator,
    buf: np.ndarray,
    *,
    compression: str | None = None,
    bounds: Bounds | None = None,
    hooks: RingHooks | None = None,
):
    """Each rank contributes its own slice of `buf`; fills all of `buf` in place.

    With compression the owner's slice is rounded too, so every rank ends identical.
    """
    check_flat(buf, "all_gather", comm.world_size)
    codec = get_codec(compression)
    n = comm.world_size
    if n > 1:
        with comm.operation("all_gather") as op:
            _Ring(comm, buf, codec, op, bounds, hooks).run(first=n - 1, steps=n - 1)
    return buf


def broadcast(comm: Communicator, buf: np.ndarray, root: int = 0):
    """Copy `root`'s `buf` to all ranks, in place (an all-reduce of root's data and -0.0).

    Exact, bit for bit: x + (-0.0) == x for every float, -0.0 and NaN payloads included
    (+0.0 is not neutral: -0.0 + 0.0 is +0.0, so root's -0.0 arrived as +0.0 on every
    rank, root too, where shared memory copies it). Meant for rare calls such as syncing
    initial weights.
    """
    check_flat(buf, "broadcast", comm.world_size)
    check_root(root, comm.world_size)
    if comm.rank != root:
        buf.fill(-0.0)
    return all_reduce(comm, buf)


def check_root(root: int, world_size: int) -> None:
    if not (isinstance(root, int) and 0 <= root < world_size):
        raise ConfigError(f"broadcast root must be in [0, {world_size}). Received: {root!r}")


def all_reduce_small(comm: Communicator, values: np.ndarray) -> np.ndarray:
    """Sum a small float64 array over ranks; returns a new array of the same shape.

    Summed in rank order on every rank, so the result is bit-identical everywhere.
    """
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.size > SMALL_MAX_ELEMENTS:
        raise ShapeError(
            f"all_reduce_small takes at most {SMALL_MAX_ELEMENTS} values. Received: "
            f"{arr.size}; use all_reduce on a float32 vector for large arrays"
        )
    if comm.world_size == 1:
        return arr.copy()
    with comm.operation("all_reduce_small") as op:
        parts = _pass_around(comm, arr.ravel(), Kind.SMALL, op)
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total.reshape(arr.shape)


def barrier(comm: Communicator) -> None:
    """Returns once every rank has called barrier (n-1 hops of an empty token)."""
    if comm.world_size > 1:
        with comm.operation("barrier") as op:
            _pass_around(comm, np.empty(0, dtype=np.float64), Kind.BARRIER, op)


def _expect(
    header: FrameHeader, kind: Kind, op: Operation, nbytes: int, what: str, peer: str,
    codec: int = 0,
):  # fmt: skip
    check_header(header, (kind,), MAX_TENSOR_FRAME, what, peer)
    if header.tag != op.tag & 0xFFFFFFFF:
        raise FrameError(
            f"{peer} sent a frame of its collective call #{header.tag} during our call "
            f"#{op.tag} ({what}); the ranks are out of step: every rank must make the same "
            "sequence of collective calls"
        )
    if header.codec != codec:  # before the length: a half-width payload is not a length error
        names = {code: name for name, code in CODE.items()}
        raise FrameError(
            f"{peer} sent data compressed as {names.get(header.codec, header.codec)!r}, this "
            f"rank expects {names[codec]!r} ({what}); every rank must pass the same "
            "compression"
        )
    if header.length != nbytes:
        raise FrameError(
            f"{peer} sent {header.length} bytes for {what}, expected {nbytes}; "
            "do all ranks pass buffers of the same length?"
        )


def _pass_around(comm: Communicator, mine: np.ndarray, kind: Kind, op: Operation):
    """Ring all-gather of one small array per rank; returns them indexed by rank."""
    n, r = comm.world_size, comm.rank
    parts: list[np.ndarray] = [mine] * n
    payload = mine.tobytes()
    frame: bytes | bytearray = pack_header(kind, mine.nbytes, op.tag) + payload + trailer(payload)
    for j in range(n - 1):
        what = f"{op.name} value of rank {(r - j - 1) % n} (hop {j + 1} of {n - 1})"
        send_bytes(comm.right, frame, op.deadline, what, comm.right_name)
        # The size is known, so header, payload and trailer arrive in one read (one wake-up).
        raw = bytearray(HEADER.size + mine.nbytes + TRAILER.size)
        recv_exact(comm.left, memoryview(raw), op.deadline, what, comm.left_name)
        _expect(
            parse_header(raw, what, comm.left_name), kind, op, mine.nbytes, what, comm.left_name
        )
        body = memoryview(raw)[HEADER.size : HEADER.size + mine.nbytes]
        verify(body, memoryview(raw)[HEADER.size + mine.nbytes :], what, comm.left_name)
        parts[(r - j - 1) % n] = np.frombuffer(body, dtype=mine.dtype)
        # Forwarded as received: same kind, tag and length; its CRC-32 is the origin's.
        frame = raw
    return parts


class _Ring:
    """One pipelined pass over ring steps [first, first + steps) on `buf`."""

    def __init__(
        self, comm: Communicator, buf: np.ndarray, codec: Codec, op: Operation, bounds=None,
        hooks: RingHooks | None = None,
    ):  # fmt: skip
        self.comm, self.buf, self.codec, self.op = comm, buf, codec, op
        hooks = hooks or RingHooks()
        self.fill = hooks.fill
        self.final = hooks.final if codec.lossless else None
        self.started = hooks.started
        self.n, self.r = comm.world_size, comm.rank
        self.bounds = bounds or [shard_bounds(buf.size, self.n, i) for i in range(self.n)]
        self.chunk = max(1, comm.config.chunk_bytes // 4)
        self.itemsize = codec.wire_dtype.itemsize

    def run(self, first: int, steps: int) -> None:
        last = first + steps - 1
        lo, hi = self.bounds[(self.r - first - 1) % self.n]
        self._queue_header(first, lo, hi)
        fill, started = self.fill, self.started  # all_gather: fill = put the own segment
        for a, b in self._chunks(lo, hi):
            if fill is not None:
                fill(a, b)
            self._queue(first, self._outgoing(first, a, b))
            if started is not None:  # the first chunk is on its way: the wire hides this
                started()
                started = None
        if started is not None:  # an empty first segment: its header is queued
            started()
        for j in range(first, last + 1):
            self._receive_step(j, forward=j < last)
        self.comm.sender.flush(self.op.deadline)

    def _kind(self, j: int) -> Kind:
        return Kind.REDUCE if j < self.n - 1 else Kind.GATHER

    def _chunks(self, lo: int, hi: int):
        return ((a, min(a + self.chunk, hi)) for a in range(lo, hi, self.chunk))

    def _what(self, j: int, segment: int) -> str:
        phase = "reduce-scatter" if j < self.n - 1 else "all-gather"
        return f"{self.op.name} ({phase} segment {segment}, ring step {j + 1} of {2 * self.n - 2})"

    def _queue(self, j: int, data: memoryview, checked: bool = True, crc: int | None = None):
        """Queue one chunk (with its CRC-32 trailer, wire.py) or a header (`checked=False`).

        `crc`: the verified CRC-32 a gathered chunk arrived with, forwarded unchanged."""
        what = self._what(j, (self.r - j - 1) % self.n)
        self.comm.sender.put(data, self.op.deadline, what, checked, crc)

    def _queue_header(self, j: int, lo: int, hi: int) -> None:
        nbytes, code = (hi - lo) * self.itemsize, CODE[self.codec.name]
        header = pack_header(self._kind(j), nbytes, self.op.tag, code)
        self._queue(j, memoryview(header), checked=False)

    def _outgoing(self, j: int, a: int, b: int) -> memoryview:
        view = self.buf[a:b]
        if self.codec.lossless:
            return byte_view(view)  # zero-copy
        wire = self.codec.encode(view)
        if self._kind(j) is Kind.GATHER:
            self.codec.decode(wire, view)  # the owner keeps exactly what the others receive
        return byte_view(wire)

    def _receive_step(self, j: int, forward: bool) -> None:
        comm, peer, deadline = self.comm, self.comm.left_name, self.op.deadline
        segment = (self.r - j - 2) % self.n
        lo, hi = self.bounds[segment]
        what = self._what(j, segment)
        header = recv_header(comm.left, deadline, what, peer)
        _expect(header, self._kind(j), self.op, (hi - lo) * self.itemsize, what, peer,
                CODE[self.codec.name])  # fmt: skip
        if forward:
            self._queue_header(j + 1, lo, hi)
        reduce = self._kind(j) is Kind.REDUCE
        fill = self.fill if reduce else None
        # Final after this step: a gathered chunk, or the own segment after its last sum.
        final = self.final if not reduce or j == self.n - 2 else None
        for a, b in self._chunks(lo, hi):
            if reduce:
                if fill is not None:  # before the receive: overlaps with the arrival
                    fill(a, b)
                wire = comm.scratch(self.codec.wire_dtype, b - a)
                recv_checked(comm.left, byte_view(wire), deadline, what, peer)
                self.codec.decode_add(wire, self.buf[a:b])
                if forward:
                    self._queue(j + 1, self._outgoing(j + 1, a, b))
            elif self.codec.lossless:  # gathered bytes go on unchanged, with their CRC
                crc = recv_checked(comm.left, byte_view(self.buf[a:b]), deadline, what, peer)
                if forward:
                    self._queue(j + 1, byte_view(self.buf[a:b]), crc=crc)
            else:
                wire = np.empty(b - a, dtype=self.codec.wire_dtype)
                crc = recv_checked(comm.left, byte_view(wire), deadline, what, peer)
                self.codec.decode(wire, self.buf[a:b])
                if forward:
                    self._queue(j + 1, byte_view(wire), crc=crc)
            if final is not None:
                final(a, b)
