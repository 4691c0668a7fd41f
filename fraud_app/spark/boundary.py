"""Group-boundary reports: workers -> driver, over authenticated sockets, while the stage runs.

One barrier stage runs several groups of iterations (Drizzle's group scheduling:
the stage is scheduled once, its groups run back to back). At every group
boundary each rank sends the driver one report: its timings and loss, its data
position, its OWN optimizer shard and (rank 0) the full weights and layer state.
The driver commits a group, logs it and writes its checkpoint as soon as all ranks
reported it, while the workers already train the next group. Gradients never come
here; a report is a few hundred KB per group for the fraud MLP.

Owns: `BoundaryServer` (driver side: listener thread, one reader thread per rank
connection, events on a queue per rendezvous round), `BoundaryReporter` (worker
side) and the report encoding. Every connection runs dlcore's mutual HMAC
handshake with the job secret; a stranger, another job or a stale round is
refused and logged. Every wait has a deadline.

Encoding (one dlcore.collective TENSOR frame per report, tag = group index; nothing is
unpickled): `!I` length of a JSON header, the JSON header, raw array bytes, then an
HMAC-SHA256 of all of it under a key derived from the job secret (`report_key`). The MAC
is checked before anything is parsed: a bit flipped in transit (the weights the driver
commits, checkpoints and returns as the model) or bytes from anyone without the secret
are a FrameError, and the stage is retried from the last committed group (it was
committed as received). The header names each array with its dtype (float32/float64/
int64 only), shape, offset and size, all checked against the payload before any array
is built.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcore.collective.auth import check_secret, connect_authenticated
from dlcore.collective.server import Address, ConnectionServer, ServerLimits
from dlcore.collective.wire import (
    MAX_TENSOR_FRAME,
    Deadline,
    Kind,
    byte_view,
    check_header,
    pack_header,
    recv_exact,
    recv_header,
    send_bytes,
)
from dlcore.errors import CommunicationError, FrameError

logger = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
_DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64}
_MAX_HEADER = 1 << 20
_MAC = hashlib.sha256().digest_size


def report_key(secret: bytes) -> bytes:
    """The reports' MAC key: the job secret, bound to this one use."""
    return hmac.new(check_secret(secret), b"fraud_app.boundary-report/1", hashlib.sha256).digest()


MAX_BACKLOG_GROUPS = 32  # groups of reports the driver may have queued but not yet taken


@dataclass(frozen=True)
class Report:
    """One rank's report at the end of one group."""

    rank: int
    group: int
    meta: dict[str, Any]  # JSON-safe figures: iteration, loss_sum, timings, position, ...
    arrays: dict[str, np.ndarray]
    received: float = 0.0  # time.perf_counter() on the driver when the report was read


# -- encoding ---------------------------------------------------------------------------
def encode_report(meta: dict[str, Any], arrays: dict[str, np.ndarray], key: bytes) -> list[Any]:
    """Buffers of one report payload (header first, MAC last); the arrays are sent zero-copy."""
    specs, parts, offset = [], [], 0
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.name not in _DTYPES:
            raise FrameError(
                f"report array {name!r} has dtype {arr.dtype.name}; allowed: {sorted(_DTYPES)}"
            )
        arr = arr if arr.flags.c_contiguous else arr.copy(order="C")  # keeps 0-d arrays 0-d
        dtype = arr.dtype.name
        specs.append({"name": name, "dtype": dtype, "shape": list(arr.shape), "offset": offset})
        parts.append(byte_view(arr))
        offset += arr.nbytes
    header = json.dumps({"meta": meta, "arrays": specs}, separators=(",", ":")).encode()
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in (head := _LENGTH.pack(len(header)) + header, *parts):
        mac.update(part)
    return [head, *parts, mac.digest()]


def decode_report(
    payload: bytes | bytearray, peer: str, key: bytes
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse a payload made by `encode_report`; any inconsistency is a FrameError naming it."""
    body = memoryview(payload)[: max(len(payload) - _MAC, 0)]
    mac = hmac.new(key, body, hashlib.sha256).digest()
    if len(payload) < _MAC or not hmac.compare_digest(mac, bytes(payload[len(body) :])):
        raise FrameError(
            f"{peer} sent a report of {len(payload)} bytes that fails its HMAC (job secret): "
            "it was corrupted in transit or not sent by a worker of this job; nothing of it "
            "is used"
        )
    payload = body
    if len(payload) < _LENGTH.size:
        raise FrameError(f"{peer} sent a report of {len(payload)} bytes, too short for a header")
    (hlen,) = _LENGTH.unpack_from(payload)
    if hlen > min(_MAX_HEADER, len(payload) - _LENGTH.size):
        raise FrameError(f"{peer} sent a report whose header length {hlen} exceeds the payload")
    try:
        header = json.loads(bytes(payload[_LENGTH.size : _LENGTH.size + hlen]))
        meta, specs = header["meta"], header["arrays"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise FrameError(f"{peer} sent a report with a malformed header: {exc!r}") from None
    if not isinstance(meta, dict) or not isinstance(specs, list):
        raise FrameError(f"{peer} sent a report header without meta object and array list")
    data = memoryview(payload)[_LENGTH.size + hlen :]
    arrays, expected_offset = {}, 0
    for spec in specs:
        try:
            name, dtype = str(spec["name"]), _DTYPES[spec["dtype"]]
            shape = tuple(int(s) for s in spec["shape"])
            offset = int(spec["offset"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise FrameError(f"{peer} sent a malformed array entry {spec!r}: {exc!r}") from None
        count = math.prod(shape)  # Python ints: no silent wrap-around
        nbytes = count * np.dtype(dtype).itemsize
        if any(s < 0 for s in shape) or offset != expected_offset or offset + nbytes > len(data):
            raise FrameError(
                f"{peer} sent array {name!r} (shape {shape}, offset {offset}) that does not fit "
                f"the {len(data)} data bytes of its report"
            )
        arrays[name] = (
            np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
        )
        expected_offset = offset + nbytes
    if expected_offset != len(data):
        raise FrameError(f"{peer} sent {len(data) - expected_offset} unexplained bytes in a report")
    return meta, arrays


# -- worker side ------------------------------------------------------------------------
class BoundaryReporter:
    """A rank's connection to the driver's BoundaryServer for one stage (one round)."""

    def __init__(
        self,
        address: Address,
        secret: bytes,
        *,
        rank: int,
        world_size: int,
        round_id: int,
        timeout: float,
    ) -> None:
        self.rank, self.timeout = rank, float(timeout)
        self.peer = f"the driver's boundary server {address[0]}:{address[1]}"
        deadline = Deadline.after(self.timeout)
        identity = {
            "purpose": "boundary",
            "rank": rank,
            "world_size": world_size,
            "round_id": round_id,
        }
        self._sock, _ = connect_authenticated(
            address, check_secret(secret), identity, deadline, "the boundary report connection",
            1 << 20,
        )  # fmt: skip
        self._key = report_key(secret)

    def send(self, group: int, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        parts = encode_report({**meta, "rank": self.rank, "group": group}, arrays, self._key)
        length = sum(memoryview(p).nbytes for p in parts)
        if length > MAX_TENSOR_FRAME:
            raise FrameError(f"a group report of {length} bytes exceeds {MAX_TENSOR_FRAME} bytes")
        deadline = Deadline.after(self.timeout)
        what = f"the report of group {group}"
        send_bytes(self._sock, pack_header(Kind.TENSOR, length, group), deadline, what, self.peer)
        for part in parts:
            send_bytes(self._sock, part, deadline, what, self.peer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        self._sock.close()

    def __enter__(self) -> BoundaryReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- driver side ------------------------------------------------------------------------
class BoundaryServer(ConnectionServer):
    """Receives group reports for the current round and puts them on that round's queue.

    Events on the queue returned by `open_round(round_id)`:
        ("connected", rank)        the rank's connection is authenticated
        ("report", Report)
        ("closed", rank)           the rank closed its connection (end of its task)
        ("error", (rank, message)) that rank's reader failed: bad frame, deadline, reset
    Connections of any other round are refused. `report_timeout` bounds the wait
    for one report (a group's worth of iterations), so no reader waits forever.
    Back-pressure: at most MAX_BACKLOG_GROUPS groups' reports wait on the queue; the
    driver calls `report_consumed()` for each report it takes, and a reader past the
    cap stops reading, so TCP slows the workers down instead of the driver's memory
    filling up with weights when checkpoints are slower than groups.
    """

    def __init__(
        self,
        secret: bytes,
        world_size: int,
        *,
        host: str = "0.0.0.0",
        advertise_host: str | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.world_size = world_size
        self._report_key = report_key(secret)
        self._lock = threading.Lock()
        self._round: int | None = None
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._backlog = threading.Semaphore(MAX_BACKLOG_GROUPS * world_size)
        self._report_timeout = 600.0
        self._conns: list[socket.socket] = []
        self._ranks: set[int] = set()
        self._closed = False
        super().__init__(
            host, 0, advertise_host, "fraud_app-boundary", secret=check_secret(secret),
            identity={"purpose": "boundary"}, limits=limits,
        )  # fmt: skip

    def open_round(
        self, round_id: int, report_timeout: float
    ) -> queue.SimpleQueue[tuple[str, Any]]:
        """Accept connections of `round_id` only, from now on; returns its event queue."""
        with self._lock:
            self._drop_connections()
            self._round, self._report_timeout = round_id, float(report_timeout)
            self._events = queue.SimpleQueue()
            self._backlog = threading.Semaphore(MAX_BACKLOG_GROUPS * self.world_size)
            return self._events

    def report_consumed(self) -> None:
        """The driver took one report of the current round off its queue."""
        with self._lock:
            backlog = self._backlog
        backlog.release()

    def close_round(self) -> None:
        """Stop accepting reports of the current round and drop its connections."""
        with self._lock:
            self._round = None
            self._drop_connections()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._round = None
            self._drop_connections()
        self.stop_serving()

    def _drop_connections(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        # wake the readers waiting for room in this round's backlog: they see that their
        # round is over and end (they waited out the report deadline, minutes, after a
        # stage was cancelled or retried: one thread per rank left behind each time)
        self._backlog.release(max(len(self._conns), self.world_size))
        self._conns, self._ranks = [], set()

    def check(self, identity: dict[str, Any]) -> str | None:
        if identity.get("purpose") != "boundary":
            return f"this is a boundary report server; the client wants {identity.get('purpose')!r}"
        if identity.get("world_size") != self.world_size:
            return f"world size mismatch: {identity.get('world_size')!r}, this job has {self.world_size}"
        rank = identity.get("rank")
        if not isinstance(rank, int) or not 0 <= rank < self.world_size:
            return f"rank {rank!r} is outside [0, {self.world_size})"
        with self._lock:
            if identity.get("round_id") != self._round:
                return f"round {identity.get('round_id')!r} is not the current round {self._round}"
            if rank in self._ranks:
                return f"rank {rank} already reports in round {self._round}"
        return None

    def serve(self, conn: socket.socket, identity: dict[str, Any], addr: Any) -> None:
        peer = f"{addr[0]}:{addr[1]}"
        rank, round_id = identity["rank"], identity["round_id"]
        with self._lock:
            if round_id != self._round or rank in self._ranks:
                conn.close()
                return
            self._conns.append(conn)
            self._ranks.add(rank)
            events, timeout, backlog = self._events, self._report_timeout, self._backlog
        name = f"rank {rank} ({peer})"
        events.put(("connected", rank))
        try:
            self._read_reports(conn, rank, round_id, name, events, timeout, backlog)
            events.put(("closed", rank))
        except Exception as exc:  # whatever ends this reader, the driver must hear of it
            events.put(("error", (rank, f"{name}: {type(exc).__name__}: {exc}")))
        finally:
            conn.close()

    def _read_reports(
        self, conn, rank: int, round_id: int, name: str, events, timeout: float, backlog
    ) -> None:
        while True:
            deadline = Deadline.after(timeout)
            if not backlog.acquire(timeout=deadline.remaining("room in the report backlog", name)):
                raise deadline.timeout_error(
                    "room in the report backlog (the driver is not consuming reports)", name
                )
            with self._lock:
                if self._round != round_id:
                    return  # the driver closed this round: nobody reads its reports
            if not _more_to_read(conn, deadline, name):
                return  # the task closed its end after its last report
            header = recv_header(conn, deadline, "the next group report", name)
            check_header(header, (Kind.TENSOR,), MAX_TENSOR_FRAME, "a group report", name)
            payload = bytearray(header.length)
            recv_exact(conn, memoryview(payload), deadline, "a group report", name)
            meta, arrays = decode_report(payload, name, self._report_key)
            if meta.get("rank") != rank or not isinstance(meta.get("group"), int):
                raise FrameError(
                    f"{name} sent a report for rank {meta.get('rank')!r}, group {meta.get('group')!r}"
                )
            events.put(("report", Report(rank, meta["group"], meta, arrays, time.perf_counter())))


def _more_to_read(conn: socket.socket, deadline: Deadline, name: str) -> bool:
    """Wait for the next frame's first byte; False on a clean end of stream."""
    what = "the next group report"
    conn.settimeout(deadline.remaining(what, name))
    try:
        return bool(conn.recv(1, socket.MSG_PEEK))
    except TimeoutError:
        raise deadline.timeout_error(what, name) from None
    except OSError as exc:
        raise CommunicationError(
            f"connection to {name} failed while waiting for {what}: {exc}"
        ) from exc
