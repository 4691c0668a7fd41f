"""Control frames of the shared-memory transport: small all-to-all exchanges on the ring.

Owns: the SHM frame body (the caller's buffer length, a phase, one argument, and an
optional body such as JSON during negotiation) and `exchange`, which hands every
rank's frame to every other rank over the authenticated ring sockets in n-1 hops
(each rank sends its own frame, then forwards what it receives), under the
operation's deadline. Checks that all ranks are in the same call, the same phase,
with the same buffer length and argument, and says which rank is not. Does not own
what a phase means (`shm.py`) nor the sockets (`communicator.py`).

Memory ordering: a rank sends its frame after its writes to shared memory and reads
a peer's memory only after receiving the peer's frame; the socket syscalls between
the two order those accesses.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import TYPE_CHECKING

from dlcore.collective.wire import (
    HEADER,
    MAX_CONTROL_FRAME,
    TRAILER,
    FrameHeader,
    Kind,
    check_header,
    pack_header,
    parse_header,
    recv_exact,
    recv_header,
    send_bytes,
    trailer,
    verify,
)
from dlcore.errors import FrameError

if TYPE_CHECKING:
    from dlcore.collective.communicator import Communicator, Operation

CONTROL = struct.Struct("!QIQ")  # the caller's buffer bytes, phase, argument


class Phase(IntEnum):
    """What a control frame announces (its argument in brackets)."""

    OFFER = 1  # a new segment, or why there is none (capacity)
    MAPPED = 2  # mapped every peer's new segment, or why not (capacity)
    INPUTS = 3  # input copied into the slot
    SUMS = 4  # own shard's sum in the slot
    SLICE = 5  # own slice in the slot (all_gather)
    ROOT = 6  # the root's data in its slot (broadcast; root)
    INPUTS_REST = 7  # the rest of the inputs copied into the slot (hierarchical, staged)
    GATHERED = 8  # the pieces gathered from the other hosts in the slot (hierarchical)


TEXT = {
    Phase.OFFER: "segment offer",
    Phase.MAPPED: "segment probe result",
    Phase.INPUTS: "inputs written",
    Phase.SUMS: "shard sum written",
    Phase.SLICE: "own slice written",
    Phase.ROOT: "broadcast data written",
    Phase.INPUTS_REST: "remaining inputs written",
    Phase.GATHERED: "gathered pieces written",
}


def exchange(
    comm: Communicator, op: Operation, phase: Phase, nbytes: int, arg: int = 0, body: bytes = b""
) -> list[bytes]:
    """All-to-all over the ring: every rank's frame reaches every rank in n-1 hops.

    Returns the frame bodies by rank (this rank's own included).
    """
    n, r = comm.world_size, comm.rank
    payload = CONTROL.pack(nbytes, phase, arg) + body
    frame = pack_header(Kind.SHM, len(payload), op.tag) + payload + trailer(payload)
    send_bytes(comm.right, frame, op.deadline, f"{op.name} ({TEXT[phase]})", comm.right_name)
    bodies = [body] * n
    for hop in range(1, n):
        src = (r - hop) % n
        who = comm.labels[src]
        what = f"{op.name} (shared memory: {TEXT[phase]} by {who}, hop {hop} of {n - 1})"
        if body:
            received = receive_frame(comm, op, (nbytes, phase, arg), who, what)
            bodies[src] = bytes(received[HEADER.size + CONTROL.size : -TRAILER.size])
        else:
            received = _receive_signal(comm, op, frame, who, what)
        if hop < n - 1:
            send_bytes(comm.right, received, op.deadline, what, comm.right_name)
    return bodies


def _receive_signal(comm: Communicator, op: Operation, mine: bytes, who: str, what: str) -> bytes:
    """A frame without body: in step, it is byte-identical to `mine` (same call, phase,
    length, argument, hence CRC-32 trailer), so one read and one comparison do; any
    difference is diagnosed."""
    got = bytearray(len(mine))
    recv_exact(comm.left, memoryview(got), op.deadline, what, comm.left_name)
    if got != mine:
        header = parse_header(got, what, comm.left_name)
        _check_header(comm, op, header, what)
        if HEADER.size + header.length + TRAILER.size == len(mine):  # else: not a signal
            view = memoryview(got)
            verify(view[HEADER.size : -TRAILER.size], view[-TRAILER.size :], what, comm.left_name)
        check_control(
            CONTROL.unpack_from(got, HEADER.size), CONTROL.unpack_from(mine, HEADER.size), who, what
        )
        raise FrameError(f"{who} sent an unexpected frame ({what})")
    return mine


def receive_frame(
    comm: Communicator, op: Operation, expected: tuple[int, int, int], who: str, what: str
) -> bytearray:
    """The next SHM frame from the left neighbour, checked against `expected` (`who`: the
    name of the rank whose frame it should be, `Communicator.labels`)."""
    header = recv_header(comm.left, op.deadline, what, comm.left_name)
    _check_header(comm, op, header, what)
    frame = bytearray(HEADER.size + header.length + TRAILER.size)
    frame[: HEADER.size] = pack_header(Kind.SHM, header.length, header.tag)
    recv_exact(comm.left, memoryview(frame)[HEADER.size :], op.deadline, what, comm.left_name)
    body = memoryview(frame)[HEADER.size : -TRAILER.size]
    verify(body, memoryview(frame)[-TRAILER.size :], what, comm.left_name)
    check_control(CONTROL.unpack_from(frame, HEADER.size), expected, who, what)
    return frame


def _check_header(comm: Communicator, op: Operation, header: FrameHeader, what: str) -> None:
    peer = comm.left_name
    check_header(header, (Kind.SHM,), MAX_CONTROL_FRAME, what, peer)
    if header.tag != op.tag & 0xFFFFFFFF or header.length < CONTROL.size:
        raise FrameError(
            f"{peer} sent a frame of its collective call #{header.tag} during our call "
            f"#{op.tag} ({what}); the ranks are out of step: every rank must make the "
            "same sequence of collective calls"
        )


def check_control(got: tuple[int, int, int], expected: tuple[int, int, int], who: str, what: str):
    """FrameError naming `who` (the sender, `Communicator.labels`) unless `got` (buffer
    bytes, phase, argument) is what this rank `expected`."""
    (nbytes, phase, arg), (my_nbytes, my_phase, my_arg) = got, expected
    if nbytes != my_nbytes:
        raise FrameError(
            f"{who} passed a buffer of {nbytes} bytes, this rank one of {my_nbytes} "
            f"({what}); do all ranks pass buffers of the same length?"
        )
    if phase != my_phase:
        theirs = TEXT.get(phase, "an unknown phase")  # type: ignore[call-overload]
        raise FrameError(
            f"{who} sent '{theirs}' (phase {phase}) while this rank waited for {what}; "
            "do all ranks call the same collectives in the same order?"
        )
    if arg != my_arg:
        meaning = "broadcast root" if phase == Phase.ROOT else "segment capacity"
        raise FrameError(
            f"{who} uses {meaning} {arg}, this rank {my_arg} ({what}); every rank must "
            "pass the same arguments"
        )
