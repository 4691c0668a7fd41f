"""The ring's addresses between network-namespace "hosts" (tests/integration/netns_ring.py).

IPv6-only hosts form the ring with the default settings; on hosts with a second network
towards the driver, ranks that advertise what the server saw (that network's address)
fail within the connect deadline naming the address, its interface and the setting that
chooses another, and advertise_interface fixes it; a firewalled ring port fails every rank
within the deadline naming the unreachable peer. Skipped with the reason where
namespaces cannot be built (not root, no `ip`/`tc`/`unshare`, a kernel that refuses).
"""

from __future__ import annotations

import shutil

import pytest

from tests.integration.netns_ring import MGMT, Hosts, namespaces_unavailable, run_ring, v6_address

needs_nft = pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables (`nft`)")

CONNECT_S = 6.0
SLACK_S = 5.0  # process start and scheduling on the shared 2-core machine


@pytest.fixture(scope="module", autouse=True)
def _namespaces():
    if problem := namespaces_unavailable():
        pytest.skip(f"network namespaces unavailable: {problem}")


def _ranks(hosts: range, **spec) -> list[tuple[int, dict]]:
    return [(h, {"connect_timeout": CONNECT_S, **spec}) for h in hosts]


def _hosts_files(tmp_path, lines) -> dict:
    """host -> its own /etc/hosts: "127.0.0.1 localhost" plus lines(host)."""
    files = {}
    for host in range(3):
        files[host] = tmp_path / f"hosts{host}"
        files[host].write_text("\n".join(["127.0.0.1 localhost", *lines(host)]) + "\n")
    return files


def _drop_new_connections(hosts: Hosts, host: int, *match: str) -> None:
    """nftables in `host`: drop incoming connection attempts (SYN) that `match`."""
    hosts.nft(host, "add", "table", "inet", "fw")
    hosts.nft(host, "add", "chain", "inet", "fw", "in", "{ type filter hook input priority 0; }")
    hosts.nft(host, "add", "rule", "inet", "fw", "in", *match,
              "tcp", "flags", "&", "(syn|ack)", "==", "syn", "drop")  # fmt: skip


def test_ipv6_only_hosts_form_the_ring_with_the_default_settings():
    with Hosts(3, ipv4=False) as hosts:
        results = run_ring(hosts, (0, {"host": v6_address(0)}), _ranks(range(1, 3)))
    for result in results:
        assert "error" not in result, result
        assert result["sum"] == [2.0, 2.0]
        assert [h for h, _ in result["peers"]] == [v6_address(1), v6_address(2)]


def test_an_advertised_address_peers_cannot_reach_names_it_its_interface_and_the_setting():
    with Hosts(3) as hosts:
        hosts.add_management_network()  # ranks reach the server over eth1 only
        server = (0, {"advertise_host": f"{MGMT}.1"})
        seen = run_ring(hosts, server, _ranks(range(1, 3)))
        chosen = run_ring(hosts, server, _ranks(range(1, 3), advertise_interface="eth0"))
    for rank, result in enumerate(seen):
        message = result.get("error", "")
        assert message.startswith("CommunicationError: cannot connect to "), result
        assert "no route to that address" in message, message
        assert f"This rank advertised {MGMT}.{11 + rank}:" in message, message
        assert "(interface eth1)" in message and "advertise_interface" in message, message
        assert result["seconds"] < CONNECT_S + SLACK_S
    for result in chosen:
        assert "error" not in result, result
        assert result["sum"] == [2.0, 2.0]
        assert [h for h, _ in result["peers"]] == [hosts.address(1), hosts.address(2)]


@needs_nft
def test_a_firewalled_ring_port_fails_within_the_deadline_naming_the_peer():
    with Hosts(3) as hosts:
        # host 2 drops new connections from host 1 (rank 1 dials rank 2, its right)
        _drop_new_connections(hosts, 2, "ip", "saddr", hosts.address(1))
        results = run_ring(hosts, (0, {"advertise_host": hosts.address(0)}), _ranks(range(3)))
    right, left = results[1]["error"], results[2]["error"]
    assert right.startswith("PeerTimeoutError: deadline of 6 s passed"), right
    assert f"the ring connection to rank 2 ({hosts.address(2)}:" in right, right
    assert left.startswith("PeerTimeoutError: deadline of 6 s passed"), left
    assert f"the ring connection from rank 1 ({hosts.address(1)}:" in left, left
    assert "error" in results[0], results[0]  # its neighbour gave up: no result
    assert max(r["seconds"] for r in results) < CONNECT_S + SLACK_S


def test_a_server_name_that_is_loopback_on_its_own_host_is_refused_at_once(tmp_path):
    """Debian's /etc/hosts trap: host 0 maps its own name to 127.0.1.1, the others to its
    address. Rank 0 (on host 0) reaches the server named ra-host-0 over loopback, so the
    address it registers is loopback; ranks 1 and 2 would dial their own host. Every rank
    is told so by the rendezvous, without waiting for the connect deadline."""
    with Hosts(3) as hosts:
        files = _hosts_files(tmp_path, lambda me: [
            f"{'127.0.1.1' if h == me else hosts.address(h)} ra-host-{h}" for h in range(3)
        ])  # fmt: skip
        results = run_ring(hosts, (0, {"advertise_host": "ra-host-0"}), _ranks(range(3)),
                           hosts_files=files)  # fmt: skip
    for result in results:
        message = result.get("error", "")
        assert "the peer table mixes loopback addresses (rank 0 127." in message, result
        assert "127.0.1.1" in message, message
        assert result["seconds"] < CONNECT_S


@needs_nft
def test_a_name_whose_first_address_is_dropped_connects_by_its_next_one(tmp_path):
    """Every rank advertises its host name, which resolves to its IPv6 address first and
    its IPv4 one second; host 2 drops IPv6 connection attempts. Rank 1's first try to
    rank 2 gets no answer: it must leave time for the IPv4 address within the deadline
    (socket.create_connection gave the first address the whole deadline)."""
    with Hosts(3) as hosts:
        files = _hosts_files(tmp_path, lambda me: [
            line for h in range(3)
            for line in (f"{v6_address(h)} ra-host-{h}", f"{hosts.address(h)} ra-host-{h}")
        ])  # fmt: skip
        _drop_new_connections(hosts, 2, "meta", "nfproto", "ipv6")
        results = run_ring(
            hosts, (0, {"advertise_host": hosts.address(0)}),
            [(h, {"connect_timeout": CONNECT_S, "advertise_host": f"ra-host-{h}"}) for h in range(3)],
            hosts_files=files,
        )  # fmt: skip
    for result in results:
        assert "error" not in result, result
        assert result["sum"] == [3.0, 3.0]
        assert result["seconds"] < CONNECT_S
