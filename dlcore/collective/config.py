"""Plain, validated settings shared by the rendezvous, the communicator and the collectives.

Owns: `Member` (who this rank is: rank, world size, round) and `CommConfig` (deadlines,
chunking, socket sizes, transport choice). Does not own any I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dlcore import settings
from dlcore.errors import ConfigError

TRANSPORTS = ("auto", "socket", "shm")
TOPOLOGIES = ("auto", "flat", "hierarchical")
SHM_SIGNALS = ("auto", "memory", "socket")


def _positive_seconds(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a finite number of seconds > 0. Received: {value!r}")


@dataclass(frozen=True)
class Member:
    """One rank's place in a job.

    rank: 0-based index of this worker, in [0, world_size).
    world_size: number of workers in the group.
    round_id: attempt number. Every retry of a failed group must use a new, larger
        round id so that its registrations and connections never mix with stale ones.
    """

    rank: int
    world_size: int
    round_id: int = 0

    def __post_init__(self) -> None:
        for name in ("rank", "world_size", "round_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"Member.{name} must be an int. Received: {value!r}")
        if self.world_size < 1:
            raise ConfigError(f"Member.world_size must be >= 1. Received: {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(
                f"Member.rank must be in [0, {self.world_size}). Received: {self.rank}"
            )
        if not 0 <= self.round_id < 2**31:
            raise ConfigError(f"Member.round_id must be in [0, 2**31). Received: {self.round_id}")

    @property
    def left(self) -> int:
        """The rank this one receives from in the ring."""
        return (self.rank - 1) % self.world_size

    @property
    def right(self) -> int:
        """The rank this one sends to in the ring."""
        return (self.rank + 1) % self.world_size


@dataclass(frozen=True)
class CommConfig:
    """How a communicator behaves.

    connect_timeout: deadline (s) for the rendezvous plus connecting and authenticating
        both ring neighbours.
    op_timeout: deadline (s) for ONE collective call without progress: it passes once
        this long goes by without a byte of the call moving (`deadline.py`), so it must
        cover the slowest rank's compute between two collectives (a fast rank waits for
        it inside the call), while a large transfer on a slow link that keeps moving
        never trips it.
    handshake_timeout: deadline (s) for one connection's authentication, so a stranger
        that connects and stays silent cannot stall a listener for long.
    chunk_bytes: pipelining granularity of the ring; a received chunk is reduced and
        forwarded while the next one is still in flight.
    socket_buffer_bytes: SO_SNDBUF / SO_RCVBUF requested for every data socket.
    listen_host: address the rank's listeners bind to: an IPv4 or IPv6 address, or ""
        (default) for every address of this host, IPv6 and IPv4 (IPv4 alone on a host
        without IPv6).
    advertise_host: address peers should dial (IPv4, IPv6 or a name); None = the
        address of `advertise_interface` if set, else the address the rendezvous
        server saw this rank connect from (on a host with several networks, that is
        the one towards the server, which the peers may not reach).
    advertise_interface: name of the local network interface (e.g. "eth1") whose
        address peers should dial, its IPv4 address else its first global IPv6 one;
        None = not used. A name that does not exist, or has no address, is a ConfigError
        at join that lists this host's interfaces.
    advertise_setting: how errors name the setting that chooses the advertised address
        (an application passes its own config key).
    transport: how collectives move data. "socket": the TCP ring. "shm": shared memory
        (all ranks must be processes or threads of one host sharing `shm_dir`; joining
        fails with a CommunicationError saying why when they are not). "auto" (default):
        the DLCORE_TRANSPORT environment variable if set, else shm when every rank is on
        this host and a probe through the segments succeeds, else socket.
    shm_dir: tmpfs directory of the shared-memory segments; None = /dev/shm (Linux).
    topology: how ranks on several hosts reduce (see `hierarchical`). "flat": one ring
        (or shm) over all ranks. "hierarchical": ranks grouped by host key reduce
        through shared memory within a host and over TCP between hosts; it falls back
        to the flat ring when every host has one rank and to shm when there is one
        host. "auto" (default): the DLCORE_TOPOLOGY environment variable if set, else
        "hierarchical" (which is flat wherever hierarchy cannot help).
    shm_signal: how ranks sharing memory signal the phases of a collective. "memory":
        counters in the shared segments (x86-64 only; elsewhere it acts as "socket").
        "socket": control frames round the ring. "auto" (default): the DLCORE_SHM_SIGNAL
        environment variable if set, else "memory". A group uses memory signals only
        when every rank chose them.
    connect_timeout_setting / op_timeout_setting: how a timeout's message names the
        setting to raise (an application passes its own config keys, e.g.
        "training.distributed.op_timeout_s").
    host_key: for tests and experiments only: pretend this rank runs on the host with
        this key (any non-empty string) instead of the probed one (boot id, hostname,
        uid). None (default) = probe.
    """

    connect_timeout: float = 60.0
    op_timeout: float = 300.0
    handshake_timeout: float = 10.0
    chunk_bytes: int = 1 << 20
    socket_buffer_bytes: int = 4 << 20
    listen_host: str = ""
    advertise_host: str | None = None
    advertise_interface: str | None = None
    transport: str = "auto"
    shm_dir: str | None = None
    topology: str = "auto"
    shm_signal: str = "auto"
    host_key: str | None = None
    connect_timeout_setting: str = "CommConfig.connect_timeout"
    op_timeout_setting: str = "CommConfig.op_timeout"
    advertise_setting: str = "CommConfig.advertise_host or CommConfig.advertise_interface"

    def __post_init__(self) -> None:
        _positive_seconds("CommConfig.connect_timeout", self.connect_timeout)
        _positive_seconds("CommConfig.op_timeout", self.op_timeout)
        _positive_seconds("CommConfig.handshake_timeout", self.handshake_timeout)
        if not isinstance(self.chunk_bytes, int) or self.chunk_bytes < 16:
            raise ConfigError(
                f"CommConfig.chunk_bytes must be an int >= 16. Received: {self.chunk_bytes!r}"
            )
        if not isinstance(self.socket_buffer_bytes, int) or self.socket_buffer_bytes < 4096:
            raise ConfigError(
                "CommConfig.socket_buffer_bytes must be an int >= 4096. "
                f"Received: {self.socket_buffer_bytes!r}"
            )
        _check_transport("CommConfig.transport", self.transport)
        if self.shm_dir is not None and not (isinstance(self.shm_dir, str) and self.shm_dir):
            raise ConfigError(
                f"CommConfig.shm_dir must be a directory path or None. Received: {self.shm_dir!r}"
            )

        for name in ("advertise_host", "advertise_interface"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and value.strip()):
                raise ConfigError(
                    f"CommConfig.{name} must be a non-empty string or None. Received: {value!r}"
                )
        if self.advertise_host is not None and self.advertise_interface is not None:
            raise ConfigError(
                "CommConfig.advertise_host and CommConfig.advertise_interface both set "
                f"({self.advertise_host!r}, {self.advertise_interface!r}); set one of them"
            )
        for name in ("connect_timeout_setting", "op_timeout_setting", "advertise_setting"):
            value = getattr(self, name)
            if not (isinstance(value, str) and value):
                raise ConfigError(
                    f"CommConfig.{name} must be a non-empty string. Received: {value!r}"
                )
        _check_choice("CommConfig.topology", self.topology, TOPOLOGIES)
        _check_choice("CommConfig.shm_signal", self.shm_signal, SHM_SIGNALS)
        if self.host_key is not None and not (isinstance(self.host_key, str) and self.host_key):
            raise ConfigError(
                f"CommConfig.host_key must be a non-empty string or None. Received: {self.host_key!r}"
            )

    def requested_topology(self) -> str:
        """`topology`, with "auto" replaced by DLCORE_TOPOLOGY when that is set."""
        return _requested(self.topology, settings.topology, "DLCORE_TOPOLOGY", TOPOLOGIES)

    def requested_shm_signal(self) -> str:
        """`shm_signal`, with "auto" replaced by DLCORE_SHM_SIGNAL when that is set."""
        return _requested(self.shm_signal, settings.shm_signal, "DLCORE_SHM_SIGNAL", SHM_SIGNALS)

    def requested_transport(self) -> str:
        """`transport`, with "auto" replaced by DLCORE_TRANSPORT when that is set."""
        return _requested(self.transport, settings.transport, "DLCORE_TRANSPORT", TRANSPORTS)


def _requested(value: str, read_env, env_name: str, choices: tuple[str, ...]) -> str:
    """`value`, or for "auto" the environment variable's value (validated; "auto" if unset)."""
    if value != "auto":
        return value
    from_env = read_env()
    _check_choice(env_name, from_env, choices)
    return from_env


def _check_transport(name: str, value: object) -> None:
    _check_choice(name, value, TRANSPORTS)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        valid = ", ".join(repr(t) for t in choices)
        raise ConfigError(f"{name} must be one of {valid}. Received: {value!r}")
