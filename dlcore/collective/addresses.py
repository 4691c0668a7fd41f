"""Host addresses of the ring: IPv4 and IPv6 listeners, how addresses are shown, which
local address belongs to which interface.

Owns: opening a listening socket of the right family for a host string (`listen`:
an IPv6 literal gets an IPv6 socket, "" every address of both families), writing an
address for people (`show`: "[2001:db8::1]:7000"), reading an address a server saw
(`seen`: "::ffff:192.0.2.1" is 192.0.2.1), loopback literals, and the local address of
a named interface (`interface_address`) or the interface of a local address
(`interface_of`), for `CommConfig.advertise_interface` and for errors that name both.
Does not own framing or connecting (`wire`), nor who advertises what (`communicator`,
`rendezvous`). Linux is the reference platform: elsewhere the interface look-ups raise
or answer "" instead of guessing.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct

from dlcore.errors import CommunicationError, ConfigError

ANY = ""  # listen on every address: IPv6 and IPv4 (dual-stack), IPv4 alone without IPv6
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
_IF_INET6 = "/proc/net/if_inet6"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The literal address in `host` (an IPv6 zone "%eth0" allowed), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def bare(host: str) -> str:
    """`host` without the brackets Spark and URLs put around an IPv6 literal ("[::1]")."""
    inner = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return inner if _ip(inner) is not None else host


def show(host: str, port: int) -> str:
    """`host:port` as people and URLs write it: IPv6 literals in brackets."""
    host = bare(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def seen(host: str) -> str:
    """An address accepted by a dual-stack listener, as peers should dial it: an
    IPv4-mapped IPv6 address ("::ffff:192.0.2.1") is the IPv4 address it carries."""
    ip = _ip(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return host


def is_literal(host: str) -> bool:
    """True for an IPv4 or IPv6 address, False for a host name."""
    return _ip(host) is not None


def is_loopback(host: str) -> bool:
    """True for a loopback literal (127.0.0.0/8, including Debian's 127.0.1.1, and ::1)."""
    ip = _ip(seen(host))
    return ip is not None and ip.is_loopback


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on `host` ("" = every address, both families), of the
    family `host` names; CommunicationError says what could not be bound and why."""
    where = show(host or "*", port)
    try:
        if host in (ANY, "::"):
            if socket.has_dualstack_ipv6():
                return socket.create_server(
                    ("::", port), family=socket.AF_INET6, backlog=backlog, dualstack_ipv6=True
                )
            if host == "::":
                raise CommunicationError(
                    f"cannot listen on {where}: this host has no IPv6 (the kernel refuses "
                    "IPv6 sockets); listen on 0.0.0.0 or an IPv4 address instead"
                )
            return socket.create_server(("0.0.0.0", port), backlog=backlog)
        family, address = _bind_address(host, port)
        return socket.create_server(address, family=family, backlog=backlog)
    except OSError as exc:
        raise CommunicationError(
            f"cannot listen on {where}: {exc.strerror or exc}; give an address of this "
            f"host{_interfaces_hint()} (or leave the listen host empty: every address)"
        ) from exc


def _bind_address(host: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    ip = _ip(host)
    if ip is not None:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return family, (host.strip("[]"), port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommunicationError(
            f"cannot listen on {show(host, port)}: the host name does not resolve "
            f"({exc.strerror or exc}); give an address of this host{_interfaces_hint()}"
        ) from exc
    # A name's IPv4 address where it has one, as before IPv6 listeners: one socket binds
    # one address, and "localhost" resolves to ::1 first on Debian's /etc/hosts, where a
    # peer told the seen 127.0.0.1 (or dialling 127.0.0.1) was refused.
    family, _, _, _, address = min(infos, key=lambda info: info[0] != socket.AF_INET)
    return family, address


# -- interfaces (Linux) -----------------------------------------------------------------------
def _ipv4_of(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("256s", name.encode()[:15])
        try:
            answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
        except OSError:  # no such interface, or it has no IPv4 address
            return None
    return socket.inet_ntoa(answer[20:24])


def _ipv6_of(name: str, link_local: bool = False) -> list[str]:
    """The interface's IPv6 addresses, global ones first; link-local ones (which peers can
    dial only with a zone, "fe80::1%eth0") only with `link_local`."""
    found = []
    with contextlib.suppress(OSError), open(_IF_INET6, encoding="utf-8", errors="replace") as table:
        for line in table:
            fields = line.split()
            if len(fields) == 6 and fields[5] == name:
                ip = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                found.append(ip)
    found.sort(key=lambda ip: (ip.is_link_local, ip.is_loopback))
    return [str(ip) for ip in found if link_local or not ip.is_link_local]


def interface_names() -> list[str]:
    return sorted(name for _, name in socket.if_nameindex())


def _interfaces_hint() -> str:
    with contextlib.suppress(OSError):
        listed = [
            f"{n} {a}"
            for n in interface_names()
            if (a := _ipv4_of(n) or next(iter(_ipv6_of(n)), None))
        ]
        if listed:
            return f" (this host has: {', '.join(listed)})"
    return ""


def interface_address(name: str, family: str = "any") -> str:
    """The address of local interface `name` that peers should dial: its IPv4 address
    (family "any" or "ipv4"), else its first global IPv6 address ("any" or "ipv6")."""
    if family not in ("any", "ipv4", "ipv6"):
        raise ConfigError(f"address family must be 'any', 'ipv4' or 'ipv6'. Received: {family!r}")
    names = interface_names()
    if name not in names:
        raise ConfigError(
            f"network interface {name!r} does not exist on {socket.gethostname()}; "
            f"its interfaces are: {', '.join(names)}"
        )
    v4 = _ipv4_of(name) if family != "ipv6" else None
    v6 = _ipv6_of(name) if family != "ipv4" else []
    if v4 or v6:
        return v4 or v6[0]
    raise ConfigError(
        f"network interface {name!r} on {socket.gethostname()} has no "
        f"{'' if family == 'any' else family + ' '}address peers could dial (is it up?)"
    )


def is_local(host: str) -> bool:
    """True for an address literal of one of this host's interfaces (loopback included)."""
    return is_loopback(host) or interface_of(host) != ""


def interface_of(address: str) -> str:
    """The local interface that carries `address` ("" when none does or it is unknown)."""
    ip = _ip(seen(address))
    if ip is None:
        return ""
    with contextlib.suppress(OSError):
        for name in interface_names():
            if ip.version == 4 and _ipv4_of(name) == str(ip):
                return name
            if ip.version == 6 and str(ip).split("%")[0] in _ipv6_of(name, link_local=True):
                return name
    return ""


def is_link_local_without_zone(host: str) -> bool:
    """True for an IPv6 link-local literal without its "%interface": it names no route."""
    ip = _ip(host)
    return isinstance(ip, ipaddress.IPv6Address) and ip.is_link_local and not ip.scope_id
