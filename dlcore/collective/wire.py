"""Length-prefixed frames over TCP, with a deadline on every wait.

Owns: the frame header (magic, version, kind, tag, payload length), the CRC-32 trailer
of tensor payloads (`send_checked`, `recv_checked`), size limits, and the blocking
send/receive primitives every other module of `dlcore.collective` uses. Opening sockets
(listen, connect, socket options) is dlcore.collective.sockets' (its names re-exported
here). Tensors travel zero-copy: `send_array` hands a memoryview of the
NumPy buffer to `sendall`, `recv_into` fills the caller's buffer with `recv_into`.

Does not own: what a payload means (auth, rendezvous and collectives decide that).

Failure mapping (all from `dlcore.errors`):
    deadline passed (deadline.py)        -> PeerTimeoutError (says what and from whom)
    peer closed / reset / socket error   -> CommunicationError
    bad magic, version, kind, tag, size  -> FrameError
    payload whose CRC-32 does not match  -> FrameError

Integrity: every tensor payload between ranks (`send_array`; the ring's REDUCE and GATHER
frames, one trailer per pipelined chunk; SMALL, BARRIER and SHM frames) is followed by a
4-byte CRC-32 of its bytes. The receiver checks it before it adds the chunk into its
buffer or forwards it (a gathered chunk lands in the caller's buffer first; the
collective then raises, so that buffer is never handed back as a result): a bit flipped
or a byte lost in transit raises FrameError instead of entering the sum. CRC-32, not an
HMAC: it detects every burst error of up to 32 bits and random corruption with
probability 1 - 2**-32, at about twice the speed of HMAC-SHA256 here (docs/BENCHMARKS.md);
forgery is not the threat, as the ring sockets are authenticated at connect time
(auth.py). A chunk forwarded unchanged (the ring's all-gather, `_pass_around`) keeps the
trailer it arrived with, verified on arrival: every receiver checks the bytes against the
CRC their owner computed, and no rank computes it twice. checksum.py picks the code that
computes it (zlib-ng's when installed: 10x zlib's speed, the same value). Headers carry
no CRC: their fields are checked against what the receiver expects (magic, version,
kind, tag, length, and in the ring's frames the codec: ranks passing different
`compression` values read each other's bf16 as fp16 or a half-width payload as a
length mismatch).
Handshake, rendezvous and error frames carry no trailer (the handshake is MAC'd); callers
that frame their own payloads with `send_bytes` (fraud_app's boundary reports, which end
with an HMAC) choose their own check.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NoReturn

import numpy as np

from dlcore.collective import checksum
from dlcore.collective.deadline import Deadline
from dlcore.collective.sockets import DEFAULT_SOCKET_BUFFER as DEFAULT_SOCKET_BUFFER
from dlcore.collective.sockets import check_port as check_port
from dlcore.collective.sockets import configure_socket as configure_socket
from dlcore.collective.sockets import connect as connect
from dlcore.collective.sockets import open_listener as open_listener
from dlcore.errors import (
    AuthenticationError,
    CommunicationError,
    FrameError,
    ShapeError,
    WireVersionError,
)

MAGIC = b"DLCW"
# 2: CRC-32 trailer after every tensor payload; 3: the ring frames' codec field is set and
# checked. A version-2 peer left it 0 and ignored it, so mixing the two decoded a bf16 sum
# as fp16 without an error (a v2 receiver) or blamed "compression None" on ranks that all
# passed fp16 (a v3 receiver): they refuse each other at the first frame instead.
VERSION = 3
# magic(4s) version(B) kind(B) codec(H) tag(I) payload_length(Q): 20 bytes, network order.
# codec: the compression of a ring frame's payload (`compression.CODE`; 0 = none, and in
# every other frame, which is what this field, once "reserved", always held).
HEADER = struct.Struct("!4sBBHIQ")
TRAILER = struct.Struct("!I")  # CRC-32 (IEEE 802.3 polynomial, = zlib.crc32) of the payload
_JOIN_BELOW = 64 << 10  # smaller payloads go out with their trailer in one sendall
MAX_TENSOR_FRAME = 1 << 30  # 1 GiB: one ring segment of a very large model
MAX_CONTROL_FRAME = 64 << 10  # 64 KiB: handshakes, registrations, peer tables


class Kind(IntEnum):
    """What a frame carries. Receivers state the kind they expect."""

    HELLO = 1
    CHALLENGE = 2
    RESPONSE = 3
    PROOF = 4
    REFUSED = 5
    REGISTER = 10
    PEERS = 11
    ERROR = 12
    TENSOR = 20
    REDUCE = 21
    GATHER = 22
    SMALL = 23
    BARRIER = 24
    SHM = 25


@dataclass(frozen=True)
class FrameHeader:
    kind: Kind
    tag: int
    length: int
    codec: int = 0  # the payload's compression code (ring frames), else 0


def send_bytes(sock: socket.socket, data: Any, deadline: Deadline, what: str, peer: str) -> None:
    """Send all of a bytes-like object; each wait for room in the socket ends at `deadline`
    (a stall deadline moves on with every byte sent)."""
    view = memoryview(data).cast("B")
    sent, total, waiting_for = 0, view.nbytes, f"room to send {what}"
    while True:
        sock.settimeout(deadline.remaining(waiting_for, peer))
        try:
            # send(), not sendall(): sendall's timeout bounds the whole call, so a large
            # payload on a slow link that keeps moving would time out as if stalled.
            n = sock.send(view[sent:])
        except TimeoutError:  # remaining() raises unless the deadline moved on meanwhile
            waiting_for = f"room to send {what} (peer not reading)"
            continue
        except OSError as exc:
            raise CommunicationError(f"sending {what} to {peer} failed: {exc}") from exc
        sent += n
        if n:
            deadline.progress()
        if sent >= total:
            return


def recv_exact(
    sock: socket.socket, view: memoryview, deadline: Deadline, what: str, peer: str
) -> None:
    """Fill the byte memoryview `view` completely from `sock` before `deadline`."""
    got, total = 0, view.nbytes
    while got < total:
        sock.settimeout(deadline.remaining(what, peer))
        try:
            n = sock.recv_into(view[got:])
        except TimeoutError:
            continue  # remaining() raises unless the deadline moved on meanwhile
        except OSError as exc:
            raise CommunicationError(
                f"connection to {peer} failed while waiting for {what}: {exc}"
            ) from exc
        if n == 0:
            raise CommunicationError(
                f"{peer} closed the connection while we waited for {what} "
                f"({got} of {total} bytes received): that process stopped, or it gave up "
                "because another rank failed (see the first error in the job's logs)"
            )
        got += n
        deadline.progress()


def trailer(data: Any, crc: int | None = None) -> bytes:
    """The 4-byte CRC-32 trailer of a bytes-like payload (`crc`: already known, verified)."""
    return TRAILER.pack(checksum.crc32(data) if crc is None else crc)


def send_checked(
    sock: socket.socket,
    data: Any,
    deadline: Deadline,
    what: str,
    peer: str,
    crc: int | None = None,
) -> None:
    """`send_bytes` of a payload followed by its CRC-32 trailer (see `recv_checked`).

    `crc`: the CRC-32 this payload arrived with, verified on arrival (`recv_checked`), for
    bytes forwarded unchanged: the check then spans every hop from the rank that computed
    it, and costs nothing here. Otherwise it is computed, after the payload is handed to
    the kernel, which sends it meanwhile.
    """
    view = memoryview(data).cast("B")
    if view.nbytes < _JOIN_BELOW:
        send_bytes(sock, b"".join((view, trailer(view, crc))), deadline, what, peer)
    else:  # zero-copy: the payload is sent from its own memory, then the 4 bytes
        send_bytes(sock, view, deadline, what, peer)
        send_bytes(sock, trailer(view, crc), deadline, what, peer)


def recv_checked(
    sock: socket.socket, view: memoryview, deadline: Deadline, what: str, peer: str
) -> int:
    """`recv_exact` of a payload into `view`, then its trailer; FrameError on a mismatch.

    Returns the verified CRC-32, for a caller that forwards the payload unchanged."""
    recv_exact(sock, view, deadline, what, peer)
    raw = bytearray(TRAILER.size)
    recv_exact(sock, memoryview(raw), deadline, what, peer)
    return verify(view, raw, what, peer)


def verify(payload: Any, raw_trailer: Any, what: str, peer: str) -> int:
    """The CRC-32 of `payload`; FrameError unless `raw_trailer` carries that value."""
    (sent,) = TRAILER.unpack(raw_trailer)
    computed = checksum.crc32(payload)
    if computed != sent:
        raise FrameError(
            f"{peer} sent {what} whose bytes do not match its CRC-32 (sent {sent:08x}, "
            f"computed {computed:08x} over {memoryview(payload).nbytes} bytes): the payload "
            "was corrupted or cut short in transit (NIC, switch, driver or memory fault); "
            "the collective fails so that training retries from its last committed group"
        )
    return computed


def pack_header(kind: Kind, length: int, tag: int = 0, codec: int = 0) -> bytes:
    return HEADER.pack(MAGIC, VERSION, int(kind), codec, tag & 0xFFFFFFFF, length)


def recv_header(sock: socket.socket, deadline: Deadline, what: str, peer: str) -> FrameHeader:
    """Read and sanity-check one header (magic, version, known kind)."""
    raw = bytearray(HEADER.size)
    recv_exact(sock, memoryview(raw), deadline, what, peer)
    return parse_header(raw, what, peer)


def parse_header(raw: bytes | bytearray, what: str, peer: str) -> FrameHeader:
    """Unpack and sanity-check the first HEADER.size bytes of `raw`."""
    magic, version, kind, codec, tag, length = HEADER.unpack_from(raw)
    if magic != MAGIC:
        raise FrameError(
            f"{peer} sent bytes that are not a dlcore.collective frame while we waited for {what}: "
            f"expected magic {MAGIC!r}, received {bytes(magic)!r}. Is another program "
            "connecting to this port?"
        )
    if version != VERSION:
        raise WireVersionError(
            f"{peer} speaks wire version {version}, this process speaks {VERSION}; "
            "run the same dlcore version on every worker"
        )
    try:
        return FrameHeader(Kind(kind), tag, length, codec)
    except ValueError:
        raise FrameError(
            f"{peer} sent a frame of unknown kind {kind} (waiting for {what})"
        ) from None


def check_header(
    header: FrameHeader, kinds: tuple[Kind, ...], max_size: int, what: str, peer: str
) -> None:
    if header.kind not in kinds:
        expected = " or ".join(k.name for k in kinds)
        transports = (
            " (SHM frames come from the shared-memory transport: do all ranks use the same "
            "CommConfig.transport and DLCORE_TRANSPORT?)"
            if Kind.SHM in (header.kind, *kinds)
            else ""
        )
        raise FrameError(
            f"{peer} sent a {header.kind.name} frame while we waited for {what} "
            f"(expected {expected}); do all ranks call the same collectives in the same "
            f"order?{transports}"
        )
    if header.length > max_size:
        raise FrameError(
            f"{peer} announced a {header.kind.name} frame of {header.length} bytes, over the "
            f"limit of {max_size} bytes for {what}; refusing to read it"
        )


def _raise_remote_error(
    sock: socket.socket, header: FrameHeader, deadline: Deadline, peer: str
) -> NoReturn:
    if header.length > MAX_CONTROL_FRAME:
        raise FrameError(f"{peer} sent an oversized error frame ({header.length} bytes)")
    payload = bytearray(header.length)
    recv_exact(sock, memoryview(payload), deadline, "an error message", peer)
    message = payload.decode(errors="replace")  # UTF-8
    cls = AuthenticationError if header.kind is Kind.REFUSED else CommunicationError
    raise cls(f"{peer} refused: {message}")


def send_frame(
    sock: socket.socket,
    kind: Kind,
    payload: bytes,
    deadline: Deadline,
    peer: str,
) -> None:
    """Send one small frame, tag 0 (header and payload in a single `sendall`)."""
    if len(payload) > MAX_CONTROL_FRAME:
        raise FrameError(
            f"refusing to send a {kind.name} frame of {len(payload)} bytes to {peer}: "
            f"control frames are limited to {MAX_CONTROL_FRAME} bytes"
        )
    send_bytes(sock, pack_header(kind, len(payload)) + payload, deadline, kind.name, peer)


def recv_frame(
    sock: socket.socket,
    kind: Kind,
    deadline: Deadline,
    peer: str,
    max_size: int = MAX_CONTROL_FRAME,
    what: str | None = None,
) -> bytes:
    """Receive one frame of `kind`. A REFUSED/ERROR frame from the peer is raised as such."""
    what = what or f"a {kind.name} frame"
    header = recv_header(sock, deadline, what, peer)
    if header.kind in (Kind.REFUSED, Kind.ERROR) and kind not in (Kind.REFUSED, Kind.ERROR):
        _raise_remote_error(sock, header, deadline, peer)
    check_header(header, (kind,), max_size, what, peer)
    payload = bytearray(header.length)
    recv_exact(sock, memoryview(payload), deadline, what, peer)
    return bytes(payload)


def send_json(sock: socket.socket, kind: Kind, obj: Any, deadline: Deadline, peer: str) -> None:
    send_frame(sock, kind, json.dumps(obj, separators=(",", ":")).encode(), deadline, peer)


def recv_json(
    sock: socket.socket, kind: Kind, deadline: Deadline, peer: str, what: str | None = None
) -> dict[str, Any]:
    payload = recv_frame(sock, kind, deadline, peer, what=what)
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"{peer} sent a {kind.name} frame that is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise FrameError(f"{peer} sent a {kind.name} frame that is not a JSON object")
    return obj


def byte_view(arr: np.ndarray) -> memoryview:
    """A flat byte memoryview of a C-contiguous array (no copy)."""
    if not arr.flags.c_contiguous:
        raise ShapeError(
            f"wire transfers need a C-contiguous array. Received strides {arr.strides}"
        )
    return memoryview(arr).cast("B") if arr.nbytes else memoryview(b"")


def send_array(
    sock: socket.socket,
    arr: np.ndarray,
    deadline: Deadline,
    peer: str,
    kind: Kind = Kind.TENSOR,
    tag: int = 0,
) -> None:
    """Send a contiguous array zero-copy: header, the array's own memory, its CRC-32."""
    if arr.nbytes > MAX_TENSOR_FRAME:
        raise FrameError(
            f"refusing to send {arr.nbytes} bytes to {peer} in one frame; "
            f"the limit is {MAX_TENSOR_FRAME} bytes"
        )
    view = byte_view(arr)
    send_bytes(sock, pack_header(kind, arr.nbytes, tag), deadline, kind.name, peer)
    send_checked(sock, view, deadline, kind.name, peer)


def recv_into(
    sock: socket.socket,
    out: np.ndarray,
    deadline: Deadline,
    peer: str,
    kind: Kind = Kind.TENSOR,
    tag: int | None = None,
) -> None:
    """Receive one frame straight into `out`; its length must match `out.nbytes` exactly."""
    if not out.flags.writeable:
        raise ShapeError("recv_into needs a writeable array")
    what = f"a {kind.name} frame of {out.nbytes} bytes"
    header = recv_header(sock, deadline, what, peer)
    if header.kind in (Kind.REFUSED, Kind.ERROR):
        _raise_remote_error(sock, header, deadline, peer)
    check_header(header, (kind,), MAX_TENSOR_FRAME, what, peer)
    if tag is not None and header.tag != tag & 0xFFFFFFFF:
        raise FrameError(
            f"{peer} sent frame tag {header.tag} while we waited for tag {tag} ({what}); "
            "the ranks are out of step (a rank called a collective more or fewer times)"
        )
    if header.length != out.nbytes:
        raise FrameError(
            f"{peer} sent {header.length} bytes while we expected {out.nbytes} for {what}; "
            "do all ranks pass buffers of the same length and dtype?"
        )
    recv_checked(sock, byte_view(out), deadline, what, peer)
