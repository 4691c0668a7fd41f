"""The shared accept loop survives strangers: floods, silent peers, accept() errors.

Real sockets on loopback throughout. Strangers and workers come from the same host
(127.0.0.1), the hardest case for per-source limits.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from dlcore.collective import Member, RendezvousServer, auth, new_job_secret, rendezvous
from dlcore.collective.auth import connect_authenticated
from dlcore.collective.server import ConnectionServer, ServerLimits
from dlcore.collective.wire import (
    Deadline,
    Kind,
    recv_exact,
    recv_frame,
    send_frame,
)
from dlcore.errors import AuthenticationError, ConfigError

LOOPBACK = "127.0.0.1"


class _Echo(ConnectionServer):
    """Authenticated connections are held open and echo one byte at a time."""

    def __init__(self, secret: bytes, limits: ServerLimits) -> None:
        super().__init__(LOOPBACK, 0, None, "test-echo", secret=secret,
                         identity={"who": "echo"}, limits=limits)  # fmt: skip

    def serve(self, conn: socket.socket, identity, addr) -> None:
        conn.settimeout(30.0)
        with conn:
            while data := conn.recv(1):
                conn.sendall(data)


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """True once the server has closed `sock` (after any ERROR frame it sent)."""
    sock.settimeout(within)
    try:
        while data := sock.recv(4096):
            del data
        return True
    except (TimeoutError, ConnectionResetError) as exc:
        return isinstance(exc, ConnectionResetError)


def _wait_until(predicate, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@contextlib.contextmanager
def _idle_flood(address, count: int):
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(address, timeout=10.0))
        yield socks
    finally:
        for s in socks:
            s.close()


def _client(address, secret: bytes, rank: int):
    sock, theirs = connect_authenticated(
        address, secret, {"rank": rank}, Deadline.after(20.0), "a test connection", 1 << 16
    )
    return sock, theirs


def test_limits_are_validated():
    with pytest.raises(ConfigError, match="handshake_timeout must be > 0"):
        ServerLimits(handshake_timeout=0)
    with pytest.raises(ConfigError, match="max_pending_per_source must be an integer >= 1"):
        ServerLimits(max_pending_per_source=0)


def test_a_silent_stranger_is_closed_at_the_handshake_deadline():
    with _Echo(new_job_secret(), ServerLimits(handshake_timeout=0.3)) as server:
        stranger = socket.create_connection(server.address)
        assert _wait_until(lambda: server.pending == 1)
        assert _closed_by_server(stranger, within=5.0)
        assert _wait_until(lambda: server.pending == 0)
        stranger.close()


def test_idle_flood_of_1000_never_displaces_authenticated_peers():
    secret = new_job_secret()
    limits = ServerLimits(handshake_timeout=5.0, max_pending=8, max_pending_per_source=4)
    with _Echo(secret, limits) as server:
        held = [_client(server.address, secret, r)[0] for r in range(6)]  # more than any cap
        with _idle_flood(server.address, 1000):
            assert _wait_until(lambda: server.evicted >= 1000 - limits.max_pending_per_source)
            assert server.pending <= limits.max_pending_per_source
            # A newcomer that proves the secret gets in during the flood ...
            late, theirs = _client(server.address, secret, 99)
            assert theirs == {"who": "echo"}
            # ... and every authenticated connection still works: none was counted or evicted.
            for sock in [*held, late]:
                sock.sendall(b"k")
                buf = bytearray(1)
                recv_exact(sock, memoryview(buf), Deadline.after(5.0), "an echo", "server")
                assert buf == b"k"
        assert server.authenticated == 7
        for sock in [*held, late]:
            sock.close()


def test_evicted_connection_hears_why():
    limits = ServerLimits(handshake_timeout=5.0, max_pending=64, max_pending_per_source=1)
    with _Echo(new_job_secret(), limits) as server:
        first = socket.create_connection(server.address)
        assert _wait_until(lambda: server.pending == 1)
        second = socket.create_connection(server.address)
        assert _wait_until(lambda: server.evicted == 1)
        first.settimeout(5.0)
        header = first.recv(20)
        assert header[:4] == b"DLCW" and header[5] == Kind.ERROR
        assert b"server busy" in first.recv(4096)
        assert not _closed_by_server(second, within=0.2)  # the newcomer was kept
        first.close()
        second.close()


def test_a_silent_stranger_is_evicted_before_an_older_one_mid_handshake():
    limits = ServerLimits(handshake_timeout=5.0, max_pending=64, max_pending_per_source=2)
    with _Echo(new_job_secret(), limits) as server:
        talking = socket.create_connection(server.address)
        hello = auth._message(b"\0" * auth.NONCE_BYTES, {"rank": 0})
        send_frame(talking, Kind.HELLO, hello, Deadline.after(5.0), "server")
        recv_frame(talking, Kind.CHALLENGE, Deadline.after(5.0), "server")  # mid-handshake now
        silent = socket.create_connection(server.address)
        assert _wait_until(lambda: server.pending == 2)
        newcomer = socket.create_connection(server.address)
        assert _wait_until(lambda: server.evicted == 1)
        assert _closed_by_server(silent, within=5.0)  # the younger, silent one went
        assert not _closed_by_server(talking, within=0.2)
        for s in (silent, talking, newcomer):
            s.close()


def test_client_does_not_retry_a_wrong_secret():
    with _Echo(new_job_secret(), ServerLimits()) as server:
        with pytest.raises(AuthenticationError, match="wrong job secret") as info:
            connect_authenticated(
                server.address, new_job_secret(), {}, Deadline.after(5.0), "a test", 1 << 16
            )
        assert "attempts" not in str(info.value)
        assert server.authenticated == 0


def _register_all(address, secret, world: int, round_id: int = 0):
    results: dict[int, object] = {}

    def one(rank: int) -> None:
        try:
            results[rank] = rendezvous(
                address, secret, Member(rank, world, round_id), (LOOPBACK, 1000 + rank), 30.0
            )
        except Exception as exc:
            results[rank] = exc

    threads = [threading.Thread(target=one, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40.0)
    return [results.get(r) for r in range(world)]


def test_rendezvous_completes_under_an_idle_flood_of_1000():
    secret = new_job_secret()
    limits = ServerLimits(handshake_timeout=5.0, max_pending=16, max_pending_per_source=8)
    with RendezvousServer(secret, 3, host=LOOPBACK, limits=limits) as server:
        with _idle_flood(server.address, 1000):
            results = _register_all(server.address, secret, 3)
        assert results == [[(LOOPBACK, 1000 + r) for r in range(3)]] * 3
        assert server.evicted >= 1000 - limits.max_pending_per_source


def test_rendezvous_completes_under_a_connect_close_flood():
    secret = new_job_secret()
    limits = ServerLimits(handshake_timeout=5.0, max_pending=16, max_pending_per_source=8)
    stop = threading.Event()
    opened = [0]

    with RendezvousServer(secret, 3, host=LOOPBACK, limits=limits) as server:

        def flood() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    socket.create_connection(server.address, timeout=5.0).close()
                    opened[0] += 1

        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        try:
            assert _wait_until(lambda: opened[0] >= 200)
            results = _register_all(server.address, secret, 3)
        finally:
            stop.set()
            flooder.join(10.0)
        assert results == [[(LOOPBACK, 1000 + r) for r in range(3)]] * 3
        assert server.authenticated == 3


SERVER_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from dlcore.collective import RendezvousServer
    from dlcore.collective.server import ServerLimits
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    # Limits above the descriptor limit, so that the flood reaches it.
    server = RendezvousServer(bytes.fromhex(sys.argv[1]), world_size=1, host="127.0.0.1",
                              limits=ServerLimits(1.0, 10_000, 10_000))
    print(server.address[1], flush=True)
    sys.stdin.readline()
    """
)


def test_rendezvous_recovers_after_running_out_of_file_descriptors():
    secret = new_job_secret()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, secret.hex()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline())
        flood = [socket.create_connection((LOOPBACK, port)) for _ in range(80)]
        time.sleep(1.5)  # the server hits EMFILE; its handshakes time out after 1 s
        for s in flood:
            s.close()
        time.sleep(0.5)
        peers = rendezvous((LOOPBACK, port), secret, Member(0, 1), (LOOPBACK, 1), 10.0)
        assert peers == [(LOOPBACK, 1)]
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    assert "accept failed" in proc.stderr.read()


def _garbage_from(source: str, address) -> None:
    sock = socket.create_connection(address, timeout=5.0, source_address=(source, 0))
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # over a header's 20 bytes
        assert _closed_by_server(sock, 5.0)


def test_a_flood_of_garbage_logs_one_warning_per_host_and_the_counts(caplog):
    with (
        caplog.at_level(logging.DEBUG, logger="dlcore.collective"),
        RendezvousServer(new_job_secret(), 2, host="0.0.0.0") as server,
    ):
        address = (LOOPBACK, server.address[1])
        for _ in range(150):
            _garbage_from(LOOPBACK, address)
        _garbage_from("127.0.0.2", address)  # another host: its first refusal is a WARNING
        assert _wait_until(lambda: server.failed == 151)
    refusals = [r for r in caplog.records if r.name == "dlcore.collective.auth"]
    assert len(refusals) == 151  # every refusal is still logged, the repeats at DEBUG
    warned = [r.getMessage() for r in refusals if r.levelno == logging.WARNING]
    assert len(warned) == 2, warned  # before: 151, one WARNING per connection
    assert [m.split(":")[0] for m in warned] == [
        "refused connection from 127.0.0.1",
        "refused connection from 127.0.0.2",
    ]
    counts = [r.getMessage() for r in caplog.records if "did not authenticate" in r.getMessage()]
    assert [m.split(" connections so far")[0].split(": ")[-1] for m in counts] == ["1", "10", "100"]
