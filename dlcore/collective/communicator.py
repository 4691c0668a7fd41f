"""One rank's authenticated connections to its ring neighbours, and its collectives.

Owns: building the ring (rank r dials rank r+1 and accepts rank r-1, both
authenticated, both before one deadline; the ring port, the dial and the error naming the
advertised address are dlcore.collective.ring_connect's), starting and stopping the
background sender thread that lets a rank send to its right neighbour while it receives
from its left one (the thread is dlcore.collective.sender's), the choice of transport,
failure handling, and closing. The algorithms live in the transports
(`collectives.SocketTransport`: the TCP ring; `shm.ShmTransport`: shared memory for
ranks on one host, chosen by `CommConfig.transport`); the methods here only delegate.
Both transports signal over the same ring sockets, so the failure model below holds
for both.

Failure model: any error inside a collective breaks the communicator. It shuts its
sockets down at once, so its neighbours fail too instead of waiting for their
deadline, and the failure travels around the ring in milliseconds. A broken
communicator refuses further calls; recover by running a new rendezvous with a
larger `round_id` (the trainer owns that retry). A communicator is used by one
thread at a time.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcore.collective import addresses, hierarchical, shm
from dlcore.collective.auth import check_secret
from dlcore.collective.collectives import SocketTransport
from dlcore.collective.compression import get_codec
from dlcore.collective.config import CommConfig, Member
from dlcore.collective.rendezvous import Address, rendezvous
from dlcore.collective.ring_connect import RingPort, dial_right, with_advertised
from dlcore.collective.sender import Sender
from dlcore.collective.server import LISTEN_BACKLOG
from dlcore.collective.wire import Deadline, open_listener
from dlcore.errors import CommunicationError, ConfigError
from dlcore.params import shard_bounds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Operation:
    """One collective call: its frame tag and its deadline."""

    name: str
    tag: int
    deadline: Deadline


class Communicator:
    """Connections of one rank to its ring neighbours, plus the collective operations.

    Build it with `Communicator.join(...)` (rendezvous + connect), or directly from a
    peer table you obtained yourself. World size 1 needs no sockets; every
    collective is then a no-op.
    """

    def __init__(
        self,
        member: Member,
        peers: Sequence[Address],
        secret: bytes,
        listener: socket.socket | None,
        config: CommConfig | None = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        """`labels`: how errors and logs name each rank (default "rank k"); the
        hierarchical topology's sub-rings name their members by global rank."""
        if len(peers) != member.world_size:
            raise ConfigError(
                f"need one address per rank: world_size={member.world_size}, "
                f"received {len(peers)} addresses"
            )
        self.member = member
        self.peers = tuple(peers)
        self.config = config or CommConfig()
        self._secret = check_secret(secret)
        self._left: socket.socket | None = None
        self._right: socket.socket | None = None
        self._sender: Sender | None = None
        self._broken: str | None = None
        self.broken_at: float | None = None  # monotonic time of the first failure
        self._closed = False
        self._op_seq = 0
        self._scratch: dict[np.dtype, np.ndarray] = {}
        self._transport: Any = SocketTransport(self)
        label = labels or [f"rank {k}" for k in range(member.world_size)]
        # Every rank's name in errors: a sub-ring's index k is global rank labels[k], so
        # the shared-memory waits and checks name peers through this, not "rank {k}".
        self.labels: tuple[str, ...] = tuple(label)
        left, right = peers[member.left], peers[member.right]
        self.left_name = f"{label[member.left]} ({addresses.show(*left)})"
        self.right_name = f"{label[member.right]} ({addresses.show(*right)})"
        try:
            if member.world_size > 1:
                if listener is None:
                    raise ConfigError("world_size > 1 needs this rank's listening socket")
                try:
                    self._connect_ring(listener, peers[member.right])
                except CommunicationError as exc:
                    raise with_advertised(exc, self) from exc
                self._transport = (
                    hierarchical.negotiate(self) or shm.negotiate(self) or self._transport
                )
        except BaseException:
            self.close()
            raise
        finally:
            if listener is not None:
                listener.close()

    @classmethod
    def join(
        cls,
        server_address: Address,
        secret: bytes,
        member: Member,
        config: CommConfig | None = None,
    ) -> Communicator:
        """Open a listener, register it with the rendezvous server, connect the ring."""
        config = config or CommConfig()
        advertise = config.advertise_host or ""
        if config.advertise_interface is not None:
            advertise = addresses.interface_address(config.advertise_interface)
        # served from the ring's start (RingPort); until then a burst waits in the kernel
        listener = open_listener(config.listen_host, backlog=LISTEN_BACKLOG)
        try:
            me = (advertise, listener.getsockname()[1])
            peers = rendezvous(
                server_address, secret, member, me, config.connect_timeout,
                setting=config.connect_timeout_setting,
            )  # fmt: skip
        except BaseException:
            listener.close()
            raise
        return cls(member, peers, secret, listener, config)

    # -- properties ---------------------------------------------------------------------
    @property
    def rank(self) -> int:
        return self.member.rank

    @property
    def world_size(self) -> int:
        return self.member.world_size

    @property
    def transport(self) -> str:
        """The transport in use: "shm", "socket", "hierarchical" (shm within hosts, TCP
        between them), or "none" (world size 1: nothing to move)."""
        return self._transport.name

    def wire_compression(self, compression: str | None) -> str | None:
        """What `compression` amounts to on the transport in use now: None where nothing
        crosses a wire ("shm": the sum is exact float32 whatever was asked; "none"), else
        `compression` ("socket"; "hierarchical": between hosts). Read it after a call: a
        shared-memory transport that cannot grow its segments falls back to sockets."""
        get_codec(compression)
        return None if self.transport in ("shm", "none") else compression

    @property
    def shm_signal(self) -> str | None:
        """How shared-memory phases are signalled: "memory" (counters in the segments),
        "socket" (control frames round the ring), or None (no shared memory in use)."""
        return getattr(self._transport, "signal_kind", None)

    @property
    def usable(self) -> bool:
        """False once closed or broken by a failure."""
        return not (self._closed or self._broken)

    def shard_bounds(self, length: int) -> tuple[int, int]:
        """[start, stop) of a flat vector of `length` that this rank owns."""
        return shard_bounds(length, self.world_size, self.rank)

    # -- collectives (see collectives.py and shm.py) --------------------------------------
    # `compression` ('bf16', 'fp16') rounds what travels on the socket transport; the
    # shared-memory transport validates it and stays exact float32.
    def all_reduce(self, buf: np.ndarray, *, compression: str | None = None) -> np.ndarray:
        """Sum `buf` (flat float32) over all ranks, in place; returns `buf`."""
        return self._transport.all_reduce(buf, compression=compression)

    def reduce_scatter(self, buf: np.ndarray, *, compression: str | None = None) -> np.ndarray:
        """Sum over ranks into this rank's slice of `buf`; returns a view of that slice."""
        return self._transport.reduce_scatter(buf, compression=compression)

    def all_gather(self, buf: np.ndarray, *, compression: str | None = None) -> np.ndarray:
        """Every rank contributes its own slice of `buf`; all of `buf` is filled in place."""
        return self._transport.all_gather(buf, compression=compression)

    def all_reduce_small(self, values: np.ndarray) -> np.ndarray:
        """Sum a small float64 array over ranks; identical result bits on every rank."""
        return self._transport.all_reduce_small(values)

    def broadcast(self, buf: np.ndarray, root: int = 0) -> np.ndarray:
        """Copy `root`'s flat float32 `buf` to every rank, in place."""
        return self._transport.broadcast(buf, root)

    def barrier(self) -> None:
        """Return once every rank has entered the barrier."""
        self._transport.barrier()

    # -- plumbing used by collectives.py --------------------------------------------------
    @contextlib.contextmanager
    def operation(
        self, name: str, timeout: float | None = None, setting: str | None = None
    ) -> Iterator[Operation]:
        """Scope of one collective: checks health, tags frames, breaks the ring on error.

        The deadline is `timeout` seconds without progress (no byte sent or received by
        the operation), by default CommConfig.op_timeout; `setting` names the setting a
        timeout message tells to raise (default: CommConfig.op_timeout_setting).
        """
        if self._closed or self._broken:
            state = "closed" if self._closed else f"broken by an earlier failure ({self._broken})"
            raise CommunicationError(
                f"{self.labels[self.rank]}: cannot run {name}, the communicator is {state}; "
                "start a new rendezvous round with a larger round_id"
            )
        self._op_seq += 1
        try:
            budget = self.config.op_timeout if timeout is None else timeout
            # The ring sockets' send queues count as progress: bytes handed to the kernel
            # earlier may still be leaving on a slow link while this rank waits.
            watch = [s for s in (self._left, self._right) if s is not None]
            if timeout is None:
                setting = setting or self.config.op_timeout_setting
            deadline = Deadline.without_progress(budget, watch, setting)
            yield Operation(name, self._op_seq, deadline)
        except BaseException as exc:
            # Read before abort(): a send that fails because abort() shut the socket is an
            # echo of `exc`, not its cause.
            sender_error = self._sender.error if self._sender else None
            self.abort(f"{name} failed: {exc}")
            if sender_error is not None and sender_error is not exc:
                raise sender_error from exc
            raise

    @property
    def left(self) -> socket.socket:
        assert self._left is not None, "world_size 1 has no neighbours"
        return self._left

    @property
    def right(self) -> socket.socket:
        assert self._right is not None, "world_size 1 has no neighbours"
        return self._right

    @property
    def sender(self) -> Sender:
        assert self._sender is not None, "world_size 1 has no neighbours"
        return self._sender

    def scratch(self, dtype: np.dtype, size: int) -> np.ndarray:
        """A reusable receive buffer of at least `size` elements."""
        buf = self._scratch.get(dtype)
        if buf is None or buf.size < size:
            buf = self._scratch[dtype] = np.empty(size, dtype=dtype)
        return buf[:size]

    # -- lifecycle ----------------------------------------------------------------------
    def abort(self, reason: str) -> None:
        """Mark broken and shut both sockets down so that the neighbours notice at once."""
        if self._broken is None:
            self._broken = reason
            self.broken_at = time.monotonic()
            logger.warning("%s: communicator broken: %s", self.labels[self.rank], reason)
        hook = getattr(self._transport, "abort", None)  # sub-rings of the hierarchical one
        if hook is not None:
            hook(reason)
        for sock in (self._left, self._right):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the shared memory, the sockets and the sender thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._transport.close()
        for sock in (self._left, self._right):  # first, so a blocked sender wakes up
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._sender is not None:
            self._sender.stop()
        for sock in (self._left, self._right):
            if sock is not None:
                sock.close()

    def __enter__(self) -> Communicator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ring setup ---------------------------------------------------------------------
    def _connect_ring(self, listener: socket.socket, right_address: Address) -> None:
        deadline = Deadline.after(self.config.connect_timeout, self.config.connect_timeout_setting)
        port = RingPort(self, listener)  # accepts the left neighbour meanwhile
        try:
            self._right = dial_right(self, right_address, deadline)
            self._left = port.take(deadline, self.left_name)
        finally:
            port.close()
        self._sender = Sender(self._right, self.right_name, self.abort)
        logger.info(
            "rank %d/%d round %d: ring connected (left %s, right %s)",
            self.rank, self.world_size, self.member.round_id, self.left_name, self.right_name,
        )  # fmt: skip
