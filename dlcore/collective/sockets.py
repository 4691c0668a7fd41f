"""TCP sockets for dlcore.collective: listening (`open_listener`), connecting before a
deadline that is shared out over a name's addresses (`connect`), the socket options every
connection gets (`configure_socket`: no Nagle delay, large kernel buffers), port numbers
checked (`check_port`), and a failed connect's cause in words (no route, a refusal, a
link-local address without its zone).

Owns the opening of connections; not what travels over them (frames, sizes and the
send/receive primitives: dlcore.collective.wire, which re-exports these names), nor the
parsing and showing of addresses (dlcore.collective.addresses).

Failure mapping (all from `dlcore.errors`): a port out of range -> ConfigError; a name that
does not resolve, a refused or unroutable address -> CommunicationError; the deadline
passed -> PeerTimeoutError.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import numpy as np

from dlcore.collective import addresses
from dlcore.collective.deadline import Deadline
from dlcore.errors import CommunicationError, ConfigError

DEFAULT_SOCKET_BUFFER = 4 << 20


def configure_socket(sock: socket.socket, buffer_bytes: int = DEFAULT_SOCKET_BUFFER) -> None:
    """TCP_NODELAY (small control frames must not wait for Nagle) and big kernel buffers."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
    for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        # Only grow: setting a size also switches off Linux autotuning for that socket.
        if sock.getsockopt(socket.SOL_SOCKET, opt) < buffer_bytes:
            sock.setsockopt(socket.SOL_SOCKET, opt, buffer_bytes)


def check_port(port: Any, what: str, lowest: int = 0) -> int:
    """A TCP port number: getaddrinfo wraps 70000 to 4464 (a connection to another port)
    and bind() raises OverflowError, a traceback, for one out of range."""
    if (
        isinstance(port, bool)
        or not isinstance(port, int | np.integer)
        or not lowest <= port <= 65535
    ):
        raise ConfigError(
            f"{what}: port must be an integer in [{lowest}, 65535]. Received: {port!r}"
        )
    return int(port)


def open_listener(host: str = "0.0.0.0", port: int = 0, backlog: int = 128) -> socket.socket:
    """A listening TCP socket; port 0 lets the OS pick. Accepted sockets inherit buffers.

    `host`: an IPv4 or IPv6 address or a name (the socket takes its family), or "" for
    every address of this host, IPv6 and IPv4 (see `addresses.listen`)."""
    port = check_port(port, f"listening on {host}")
    sock = addresses.listen(host, port, backlog)
    configure_socket(sock)
    return sock


def connect(
    address: tuple[str, int], deadline: Deadline, what: str, buffer_bytes: int
) -> socket.socket:
    """Open a configured TCP connection to `address` before `deadline`."""
    peer = addresses.show(address[0], address[1])
    check_port(address[1], f"{what} with {peer}", lowest=1)
    deadline.remaining(what, peer)  # a deadline already passed: no look-up
    try:
        targets = socket.getaddrinfo(
            addresses.bare(address[0]), address[1], type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:  # "is that process still alive?" sent people the wrong way
        raise CommunicationError(
            f"cannot connect to {peer} for {what}: host name {address[0]!r} does not resolve "
            f"({exc.strerror or exc}); check the address this rank was given"
        ) from exc
    failures: list[str] = []
    for i, (family, kind, proto, _, target) in enumerate(targets):
        # A name with several addresses (IPv6 and IPv4): each try gets its share of the time
        # left, so one whose packets are dropped cannot use up the deadline of the next
        # (socket.create_connection gives every address the whole timeout).
        share = deadline.remaining(what, peer) / (len(targets) - i)
        sock = socket.socket(family, kind, proto)
        sock.settimeout(share)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            if len(targets) == 1:
                if isinstance(exc, TimeoutError):
                    raise deadline.timeout_error(what, peer) from None
                raise CommunicationError(
                    f"cannot connect to {peer} for {what}: {_why(exc, address[0])}"
                ) from exc
            reason = f"no answer within {share:.3g} s" if isinstance(exc, TimeoutError) else exc
            failures.append(f"{addresses.show(target[0], target[1])}: {reason}")
            continue
        configure_socket(sock, buffer_bytes)
        return sock
    raise CommunicationError(
        f"cannot connect to {peer} for {what}: each of its {len(targets)} addresses failed "
        f"({'; '.join(failures)}); the peer is gone, or a firewall or route blocks these "
        "addresses (check the name's addresses, IPv6 and IPv4, from this host)"
    )


def _why(exc: OSError, host: str = "") -> str:
    """A failed connect's cause and where to look: no route is a wrong address (another
    network's), a refusal a listener that has gone."""
    if addresses.is_link_local_without_zone(host):
        return (
            f"{exc}; {host} is a link-local IPv6 address, which names no interface without "
            "its zone (fe80::1%eth0): advertise a global address of that host (an "
            "interface's, chosen with advertise_interface / ring_interface)"
        )
    if exc.errno in (
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
    ):
        return (
            f"{exc}; this host has no route to that address: is it an address of another "
            "network (of a host with several interfaces) or of a family this host lacks?"
        )
    return f"{exc}; is that process still alive?"
