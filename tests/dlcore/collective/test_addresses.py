"""Addresses of the ring on one machine: IPv6 listeners, the dual-stack default, the
advertised interface, and a peer table that mixes loopback with other hosts.

Multi-host cases (IPv6-only hosts, a host whose route to the server is another network,
a firewalled port) run between network namespaces: tests/integration/test_netns_addresses.py.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from dlcore.collective import (
    CommConfig,
    Communicator,
    Member,
    RendezvousServer,
    new_job_secret,
)
from dlcore.collective.rendezvous import rendezvous
from dlcore.collective.wire import open_listener
from dlcore.errors import CommunicationError, ConfigError


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback(), reason="this host has no IPv6 loopback")


def _ring(server_host: str, config: CommConfig, world: int = 2) -> list:
    """One all-reduce of ones over `world` thread ranks; results or errors, by rank."""
    secret = new_job_secret()
    out: list = [None] * world
    with RendezvousServer(secret, world, host=server_host) as server:

        def rank(r: int) -> None:
            try:
                with Communicator.join(server.address, secret, Member(r, world), config) as c:
                    buf = np.ones(1000, dtype=np.float32)
                    c.all_reduce(buf)
                    out[r] = (c.peers, float(buf.min()), float(buf.max()))
            except Exception as exc:  # the test asserts on it
                out[r] = exc

        threads = [threading.Thread(target=rank, args=(r,)) for r in range(world)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    return out


@needs_ipv6
def test_a_ring_binds_advertises_and_connects_over_ipv6_loopback():
    config = CommConfig(
        listen_host="::1", advertise_host="::1", transport="socket", topology="flat",
        connect_timeout=20.0, op_timeout=20.0,
    )  # fmt: skip
    results = _ring("::1", config, world=3)
    for peers, low, high in results:
        assert (low, high) == (3.0, 3.0)
        assert [host for host, _ in peers] == ["::1"] * 3


@needs_ipv6
def test_the_default_listener_takes_ipv6_and_ipv4_peers():
    listener = open_listener(CommConfig().listen_host)
    port = listener.getsockname()[1]
    with listener:
        for host in ("::1", "127.0.0.1"):
            with socket.create_connection((host, port), timeout=5):
                conn, _ = listener.accept()
                conn.close()


@needs_ipv6
def test_a_dual_stack_rendezvous_hands_out_ipv4_peers_as_ipv4():
    """A rank that registers the wildcard gets the address the server saw: through a
    dual-stack listener an IPv4 client shows as ::ffff:127.0.0.1, which is 127.0.0.1."""
    secret = new_job_secret()
    with RendezvousServer(secret, 1, host="::", advertise_host="127.0.0.1") as server:
        table = rendezvous(server.address, secret, Member(0, 1), ("", 7000), 10.0)
    assert table == [("127.0.0.1", 7000)]


def test_ipv6_addresses_are_shown_in_brackets():
    from dlcore.collective.addresses import show  # new in session 39: fails alone on older trees

    assert show("2001:db8::1", 7000) == "[2001:db8::1]:7000"
    assert show("192.0.2.1", 7000) == "192.0.2.1:7000"


def test_a_listen_address_this_host_lacks_is_refused_naming_it_and_the_interfaces():
    with pytest.raises(CommunicationError, match=r"cannot listen on 192\.0\.2\.254:0: .*lo 127"):
        open_listener("192.0.2.254")  # TEST-NET: never an address of this machine


def test_advertise_interface_advertises_that_interface_address():
    config = CommConfig(advertise_interface="lo", transport="socket", topology="flat")
    results = _ring("127.0.0.1", config)
    for peers, low, high in results:
        assert (low, high) == (2.0, 2.0)
        assert [host for host, _ in peers] == ["127.0.0.1", "127.0.0.1"]


def test_an_unknown_interface_is_refused_listing_this_hosts_interfaces():
    from dlcore.collective.addresses import interface_address

    with pytest.raises(ConfigError, match=r"interface 'nosuch0' does not exist .*: .*\blo\b"):
        interface_address("nosuch0")
    with pytest.raises(ConfigError, match="advertise_host and CommConfig.advertise_interface"):
        CommConfig(advertise_host="127.0.0.1", advertise_interface="lo")


def test_a_peer_table_mixing_loopback_with_other_hosts_is_refused_at_once():
    """Rank 0 on the server's host registered 127.0.1.1 (its hostname's /etc/hosts entry on
    Debian) while rank 1 is on another host: rank 1 would dial its own loopback. Every
    rank gets an error naming the loopback rank, instead of a connect timeout later."""
    secret = new_job_secret()
    errors: list = [None, None]
    with RendezvousServer(secret, 2, host="127.0.0.1") as server:

        def register(rank: int, host: str) -> None:
            try:
                rendezvous(server.address, secret, Member(rank, 2), (host, 7000), 10.0)
            except CommunicationError as exc:
                errors[rank] = str(exc)

        threads = [
            threading.Thread(target=register, args=(0, "127.0.1.1")),
            threading.Thread(target=register, args=(1, "192.0.2.11")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    for message in errors:
        assert message is not None, "a mixed table was handed out"
        assert "mixes loopback addresses (rank 0 127.0.1.1:7000)" in message, message
        assert "rank 1 at 192.0.2.11:7000" in message and "127.0.1.1" in message, message


@needs_ipv6
def test_a_bracketed_ipv6_address_as_spark_writes_it_is_dialled_and_shown_once_bracketed():
    """Spark wants IPv6 literals in brackets (spark.driver.host [::1], SPARK_LOCAL_IP);
    an advertised "[::1]" reached getaddrinfo as it was, which does not resolve."""
    from dlcore.collective.addresses import show

    config = CommConfig(
        listen_host="[::1]", advertise_host="[::1]", transport="socket", topology="flat",
        connect_timeout=20.0, op_timeout=20.0,
    )  # fmt: skip
    for peers, low, high in _ring("[::1]", config):
        assert (low, high) == (2.0, 2.0)
        assert [host for host, _ in peers] == ["[::1]", "[::1]"]
    assert show("[::1]", 7000) == "[::1]:7000"


def _own_ipv4_address() -> str | None:
    """A non-loopback IPv4 address of this machine (eth0's), or None."""
    from dlcore.collective.addresses import _ipv4_of, interface_names

    for name in interface_names():
        address = _ipv4_of(name)
        if address and not address.startswith("127."):
            return address
    return None


def test_ranks_of_one_host_at_loopback_and_at_its_own_address_form_their_ring():
    """Review 39: the loopback refusal took every non-loopback rank for another host. On
    one machine, rank 0 at 127.0.0.1 and rank 1 at the machine's own eth0 address form a
    ring (as they did before session 39); only a rank at an address of another host
    makes the table unusable."""
    own = _own_ipv4_address()
    if own is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    secret = new_job_secret()
    out: list = [None, None]
    with RendezvousServer(secret, 2, host="127.0.0.1") as server:

        def rank(r: int) -> None:
            config = CommConfig(
                advertise_host=["127.0.0.1", own][r], transport="socket", topology="flat",
                connect_timeout=20.0, op_timeout=20.0,
            )  # fmt: skip
            try:
                with Communicator.join(server.address, secret, Member(r, 2), config) as c:
                    buf = np.ones(100, dtype=np.float32)
                    c.all_reduce(buf)
                    out[r] = float(buf.max())
            except Exception as exc:  # the test asserts on it
                out[r] = exc

        threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert out == [2.0, 2.0], out


_LOCALHOST_IPV6_FIRST = """
import socket, sys
from dlcore.collective.wire import open_listener
order = [i[4][0] for i in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)]
if order[0] != "::1":
    sys.exit(f"skip: localhost resolves to {order}")
with open_listener("localhost") as listener:
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        print("accepted on 127.0.0.1")
"""


def test_a_listen_host_name_with_ipv6_and_ipv4_addresses_listens_on_its_ipv4_one(tmp_path):
    """Review 39: a listen_host name bound its first address; Debian's /etc/hosts lists
    "::1 localhost", which glibc returns before 127.0.0.1, so listen_host="localhost"
    listened on ::1 alone and the ring's peers, told 127.0.0.1 (the address the server
    saw), were refused until the connect deadline. Before session 39 it listened on IPv4.
    Run with such an /etc/hosts in a user + mount namespace."""
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or not _ipv6_loopback():
        pytest.skip("needs unshare and an IPv6 loopback")
    hosts = tmp_path / "hosts"
    hosts.write_text("::1 localhost\n127.0.0.1 localhost\n")
    script = (
        f"mount --bind {hosts} /etc/hosts && exec {sys.executable} -c '{_LOCALHOST_IPV6_FIRST}'"
    )
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )  # fmt: skip
    if "skip:" in run.stderr or (run.returncode != 0 and "unshare" in run.stderr.split(":")[0]):
        pytest.skip(f"no namespace with an IPv6-first localhost: {run.stderr.strip()[-200:]}")
    assert run.returncode == 0 and "accepted on 127.0.0.1" in run.stdout, run.stderr[-800:]


def _own_link_local() -> tuple[str, str] | None:
    """(address, interface) of an IPv6 link-local address of this machine, or None."""
    import ipaddress

    try:
        with open("/proc/net/if_inet6") as table:
            for line in table:
                fields = line.split()
                ip = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                if ip.is_link_local:
                    return str(ip), fields[5]
    except OSError:
        return None
    return None


def test_a_link_local_address_without_its_zone_is_named_as_such():
    """Review 39: a ring advertised at a link-local IPv6 address without "%eth0" failed
    with "[Errno 22] Invalid argument; is that process still alive?" and called the
    address "not an address of this host's interfaces" (it is eth0's). Now the error says
    that a link-local address needs its zone and names the interface it belongs to."""
    found = _own_link_local()
    if found is None:
        pytest.skip("this machine has no IPv6 link-local address")
    address, interface = found
    config = CommConfig(
        advertise_host=address, transport="socket", topology="flat", connect_timeout=10.0
    )
    for result in _ring("127.0.0.1", config):
        assert isinstance(result, CommunicationError), result
        message = str(result)
        assert "is a link-local IPv6 address, which names no interface without its zone" in (
            message
        ), message
        assert "is that process still alive" not in message, message
        assert f"(interface {interface})" in message, message


def test_a_refused_ring_connection_reads_as_one_sentence_per_cause():
    """Review 39: the advertised address was appended after ". ", giving "is that process
    still alive?. This rank advertised ..."."""
    out: list = [None, None]
    secret = new_job_secret()
    with RendezvousServer(secret, 2, host="127.0.0.1") as server:

        def rank(r: int) -> None:
            config = CommConfig(
                listen_host="127.0.0.1", advertise_host=["127.0.0.1", "127.0.0.2"][r],
                transport="socket", topology="flat", connect_timeout=10.0,
            )  # fmt: skip
            try:
                with Communicator.join(server.address, secret, Member(r, 2), config):
                    pass
            except CommunicationError as exc:  # the test asserts on it
                out[r] = str(exc)

        threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    message = out[0]  # rank 0 dials rank 1 at 127.0.0.2, where nothing listens
    assert message is not None and "Connection refused" in message, message
    assert "still alive? This rank advertised 127.0.0.1:" in message, message
