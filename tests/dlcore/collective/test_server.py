"""The shared accept loop survives strangers: a connection cap, and accept() errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time

from dlcore.collective import Member, new_job_secret, rendezvous
from dlcore.collective.server import ConnectionServer


class _Holding(ConnectionServer):
    """Keeps every connection open until released."""

    def __init__(self, max_connections: int) -> None:
        self.release = threading.Event()
        self.served: list[object] = []
        super().__init__("127.0.0.1", 0, None, "test-holding", max_connections=max_connections)

    def handle(self, conn: socket.socket, addr) -> None:
        self.served.append(addr)
        self.release.wait(10.0)
        conn.close()


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_connections_over_the_cap_are_closed_unread_and_serving_goes_on():
    server = _Holding(max_connections=2)
    try:
        clients = [socket.create_connection(server.address) for _ in range(3)]
        assert _closed_by_server(clients[2], within=5.0)
        assert not _closed_by_server(clients[0], within=0.2)
        assert len(server.served) == 2
        server.release.set()
        assert _closed_by_server(clients[0], within=5.0)
        deadline = time.monotonic() + 5.0
        while server._active and time.monotonic() < deadline:
            time.sleep(0.01)
        late = socket.create_connection(server.address)
        assert _closed_by_server(late, within=5.0)  # served (handle returned at once) and closed
        assert len(server.served) == 3
        for c in [*clients, late]:
            c.close()
    finally:
        server.release.set()
        server.stop_serving()


SERVER_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from dlcore.collective import RendezvousServer
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    server = RendezvousServer(bytes.fromhex(sys.argv[1]), world_size=1, host="127.0.0.1",
                              handshake_timeout=1.0)
    server._max_connections = 10_000  # let the flood reach the descriptor limit
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
        flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(80)]
        time.sleep(1.5)  # the server hits EMFILE; its handshakes time out after 1 s
        for s in flood:
            s.close()
        time.sleep(0.5)
        peers = rendezvous(("127.0.0.1", port), secret, Member(0, 1), ("127.0.0.1", 1), 10.0)
        assert peers == [("127.0.0.1", 1)]
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    assert "accept failed" in proc.stderr.read()
