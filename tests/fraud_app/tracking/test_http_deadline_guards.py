"""The total request deadline (fraud_app.tracking.http_deadline) where it does not apply or
cannot: a database / file store wraps nothing of MLflow's; an MLflow without the session
hook it wraps is a warning, not a crash; the watchdog outlives a connection whose socket is
urllib3's SSLTransport (TLS in TLS, through an HTTPS proxy); a server asking to retry after
the deadline is said so at once. review46c."""

from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mlflow.utils import request_utils
from urllib3.connection import HTTPConnection
from urllib3.util.ssltransport import SSLTransport

from fraud_app.errors import TrackingError
from fraud_app.tracking import http_deadline
from fraud_app.tracking.client import open_store
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.test_trickling_server import _cli

pytestmark = pytest.mark.integration

_LOGGER = "fraud_app.tracking.http_deadline"


def _unwrapped():
    """MLflow's own _get_request_session (an earlier test of this worker may have wrapped it)."""
    f = request_utils._get_request_session
    return getattr(f, "__wrapped__", f) if getattr(f, "_fraud_app_deadline", False) else f


def test_a_sqlite_store_wraps_nothing_of_mlflow(tmp_path, monkeypatch, caplog):
    original = _unwrapped()
    monkeypatch.setattr(request_utils, "_get_request_session", original)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with caplog.at_level(logging.WARNING, logger=_LOGGER):
        store = open_store(h.config(tmp_path))
    assert store.uri.startswith("sqlite:///")
    assert request_utils._get_request_session is original  # deadline46: wrapped
    assert http_deadline.current() is None
    assert not [r for r in caplog.records if r.name == _LOGGER]


def test_a_sqlite_store_opens_with_an_mlflow_without_the_session_hook(tmp_path, monkeypatch):
    """deadline46: AttributeError from install() for every store, an embedded one too."""
    monkeypatch.delattr(request_utils, "_get_request_session")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = open_store(h.config(tmp_path))
    assert store.experiment_name == "fraud-app"


def test_a_server_store_without_the_session_hook_says_the_deadline_is_not_applied(
    tmp_path, monkeypatch, caplog
):
    """An MLflow whose request_utils changed: one warning naming the setting and the version,
    then MLflow's own failure (here: its request code misses the function too), no
    AttributeError from our wrapping (deadline46)."""
    import mlflow

    monkeypatch.delattr(request_utils, "_get_request_session")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    forget = getattr(http_deadline, "_not_applied", None)  # once per process: again here
    if forget is not None:
        forget.cache_clear()
    listener = socket.create_server(("127.0.0.1", 0))  # reachable; never asked anything
    port = listener.getsockname()[1]
    try:
        cfg = h.config(tmp_path, **{"tracking.uri": f"http://127.0.0.1:{port}",
                                    "tracking.connect_timeout_s": 1})  # fmt: skip
        with caplog.at_level(logging.WARNING, logger=_LOGGER), pytest.raises(TrackingError):
            open_store(cfg)
    finally:
        listener.close()
        if forget is not None:
            forget.cache_clear()
    said = [r.getMessage() for r in caplog.records if r.name == _LOGGER]
    assert said == [
        f"tracking.request_deadline_s is not applied with MLflow {mlflow.__version__} "
        "(written for 3.17.2): mlflow.utils.request_utils has no _get_request_session that "
        "_get_http_response_with_retries calls; each socket read of a request to the "
        "tracking server keeps its per-request timeout only, and a server that trickles its "
        "answer can hold the command"
    ]
    assert http_deadline.current() is None


def _connected_pair():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname(), timeout=5)
    served, _ = listener.accept()
    listener.close()
    return client, served


def _shut_within(deadline_s: float, sock_of) -> float:
    """Register a request whose one connection has `sock_of(socket)` as its sock; the time
    until the watchdog shut that socket down (its recv returns EOF)."""
    client, served = _connected_pair()
    conn = HTTPConnection("127.0.0.1", 1)
    conn.sock = sock_of(client)
    request = http_deadline._Request(http_deadline.Deadline("http://x", deadline_s, "test"))
    request.conns.append(conn)
    t0 = time.monotonic()
    http_deadline._watchdog.add(request)
    try:
        assert client.recv(1) == b""  # deadline46 (a transport): socket.timeout after 5 s
        return time.monotonic() - t0
    finally:
        http_deadline._watchdog.remove(request)
        client.close()
        served.close()


def _ssl_transport(sock: socket.socket) -> SSLTransport:
    """urllib3's own class around `sock`, without its TLS handshake (no peer for one here):
    what conn.sock is for an HTTPS server reached through an HTTPS proxy."""
    transport = SSLTransport.__new__(SSLTransport)
    transport.socket = sock
    return transport


def test_the_watchdog_shuts_a_tls_in_tls_connection_and_lives_on():
    """deadline46: socket.socket.shutdown(transport) raised TypeError in the watchdog
    thread, which ended it: no deadline of the process held any more."""
    assert _shut_within(0.3, _ssl_transport) < 3
    assert _shut_within(0.3, lambda s: s) < 3  # the watchdog still runs


class _Overloaded(BaseHTTPRequestHandler):
    """Every request: 503 with `Retry-After: 8` (a server restarting behind its proxy)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Retry-After", "8")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


def test_a_retry_after_past_the_deadline_is_named_at_once(capsys, tmp_path, monkeypatch):
    """deadline46: urllib3 slept the 8 s through (the deadline does not cut a sleep), then
    refused the retry as `did not finish answering within 3s ... sends its answer too
    slowly`: wrong, the server answered at once."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Overloaded)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, err, elapsed = _cli(capsys, tmp_path, port, ["models"])  # nothing on stdout
    finally:
        server.shutdown()
        server.server_close()
    assert code == 2, err
    assert err == (
        f"error: tracking server http://***@127.0.0.1:{port} cannot open experiment "
        "'fraud-app': answered HTTP 503 and asked to retry after 8s, past the total time of "
        "one request "
        "(3s; tracking.request_deadline_s unset: tracking.connect_timeout_s 1s x "
        "(MLFLOW_HTTP_REQUEST_MAX_RETRIES 1 + 2)): it is overloaded or restarting. Try "
        "again later, raise tracking.request_deadline_s, or set tracking.enabled: false\n"
    )
    assert elapsed < 3, elapsed  # deadline46: 8 s


class _Paused(HTTPConnection):
    """A connection of the late request whose socket the watchdog reaches first: it waits
    there until the test lets it go (the watchdog paused inside its shutting down)."""

    def __init__(self) -> None:
        self.entered, self.go = threading.Event(), threading.Event()
        super().__init__("127.0.0.1", 1)

    @property
    def sock(self):
        if threading.current_thread().name == "mlflow-request-deadline":
            self.entered.set()
            self.go.wait(10)
        return self._sock

    @sock.setter
    def sock(self, value) -> None:
        self._sock = value


def test_a_connection_back_in_the_pool_is_not_shut_under_its_next_request():
    """The late request puts a connection back (its answer read) while the watchdog shuts its
    sockets; another request takes it from the pool. deadline46 shut it from a copy of the
    request's list, under the request that took it."""
    listener = socket.create_server(("127.0.0.1", 0))
    pool = http_deadline._pool_classes()["http"]("127.0.0.1", listener.getsockname()[1], maxsize=1)
    conn = pool._get_conn()  # the pool's one connection, in use by the late request
    conn.connect()
    paused = _Paused()
    request = http_deadline._Request(http_deadline.Deadline("http://x", 0.2, "test"))
    request.conns += [paused, conn]
    http_deadline._watchdog.add(request)
    taken = []

    def late_then_next() -> None:
        http_deadline._local.request = request  # the late request's thread: back in the pool
        pool._put_conn(conn)
        http_deadline._local.request = None
        taken.append(pool._get_conn())  # the next request of another thread

    try:
        assert paused.entered.wait(5)
        other = threading.Thread(target=late_then_next, daemon=True)
        other.start()
        other.join(0.5)
        paused.go.set()
        other.join(5)
    finally:
        paused.go.set()
        http_deadline._watchdog.remove(request)
        listener.close()
    (got,) = taken
    assert got.sock is None or got.is_connected  # a new connection or a sound one
    got.close()


def test_a_fork_while_another_thread_installs_leaves_the_child_a_free_install_lock():
    """The lock `install` holds, taken by another thread at the fork, was the child's for
    ever: its first store waited without end (a forked scoring worker, a notebook's pool)."""
    import os

    with http_deadline._install_lock:  # as a thread inside install() at the fork
        pid = os.fork()
        if pid == 0:  # the child: install must return, not wait on the parent's holder
            try:
                http_deadline.install(http_deadline.Deadline("http://x", 5.0, "test"))
                os._exit(0)
            except BaseException:
                os._exit(3)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child waited 30 s on the install lock its parent held")
    assert os.waitstatus_to_exitcode(status) == 0
