"""Authentication edges: the retry schedule, connect failures, long refusals, a vanished client.

Real sockets; messages and log lines pinned whole. These close the gaps the mutation
check (`make mutation`) found in auth.py; the handshake itself is in test_auth*.py.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time

import pytest

from dlcore.collective import auth, new_job_secret, wire
from dlcore.collective.auth import connect_authenticated
from dlcore.collective.wire import Deadline, Kind
from dlcore.errors import AuthenticationError, CommunicationError, ConfigError, PeerTimeoutError
from tests.dlcore.collective._sockets import full_backlog
from tests.dlcore.collective.test_auth import handshake
from tests.threads import in_thread

AUTH_LOGGER = "dlcore.collective.auth"


def _free_port() -> int:
    """A port nobody listens on (bound once by us, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_nobody_listens_on_is_retried_with_doubling_jittered_pauses(caplog):
    port = _free_port()
    peer = re.escape(f"127.0.0.1:{port}")
    refused = (
        rf"cannot connect to {peer} for the rendezvous connection: \[Errno 111\] Connection "
        r"refused; is that process still alive\?"
    )
    started = time.monotonic()
    with (
        caplog.at_level(logging.INFO, logger=AUTH_LOGGER),
        pytest.raises(CommunicationError) as info,
    ):
        connect_authenticated(("127.0.0.1", port), new_job_secret(), {}, Deadline.after(1.0),
                              "the rendezvous connection", 1 << 16)  # fmt: skip
    elapsed = time.monotonic() - started
    match = re.fullmatch(
        rf"gave up on the rendezvous connection with {peer}: (\d+) attempts over (\d+\.\d\d) s "
        rf"all failed before authenticating \(deadline 1 s\)\. Last error: {refused}",
        str(info.value),
    )
    assert match, str(info.value)
    attempts, over = int(match[1]), float(match[2])
    assert over <= elapsed + 0.01
    retries = [r for r in caplog.records if r.name == AUTH_LOGGER]
    assert len(retries) == attempts - 1 >= 3
    for i, record in enumerate(retries):
        assert re.fullmatch(
            rf"the rendezvous connection with {peer} failed \({refused}\); retrying in \d\.\d\d s",
            record.getMessage(),
        )
        delay = min(auth.RETRY_FIRST_S * 2**i, auth.RETRY_MAX_S)
        assert 0.5 * delay <= record.args[-1] <= delay  # back-off doubles, jitter in [1/2, 1]


def test_a_first_connect_that_times_out_is_named_as_such():
    with full_backlog() as address, pytest.raises(PeerTimeoutError) as info:
        connect_authenticated(address, new_job_secret(), {}, Deadline.after(0.3), "a test", 1 << 16)
    assert str(info.value) == (
        f"deadline of 0.3 s passed while waiting for a test from 127.0.0.1:{address[1]}; the "
        "peer is stalled, partitioned or much slower than the others (raise the timeout if "
        "that is expected)"
    )


def test_a_refusal_reason_is_sent_cut_at_4096_bytes(pair):
    secret = new_job_secret()
    client_result, server_result = handshake(pair, secret, secret, check=lambda ident: "r" * 5000)
    assert str(client_result) == "server refused: " + "r" * 4096
    assert str(server_result) == "refused connection from client: " + "r" * 5000


def test_a_stranger_is_refused_with_the_whole_reason(pair):
    stranger, server = pair
    stranger.sendall(b"GET / HTTP/1.1\r\nHost")  # exactly one header's worth of bytes
    with pytest.raises(AuthenticationError) as info:
        auth.authenticate_server(server, new_job_secret(), {}, Deadline.after(5.0), "stranger")
    assert str(info.value) == (
        "refused connection from stranger: handshake failed: stranger sent bytes that are not a "
        "dlcore.collective frame while we waited for a HELLO frame: expected magic b'DLCW', "
        "received b'GET '. Is another program connecting to this port?"
    )


def test_a_client_gone_before_the_proof_is_named(pair):
    client, server = pair
    secret, closed = new_job_secret(), threading.Event()
    deadline = Deadline.after(5.0)
    server_side = in_thread(
        lambda: auth.authenticate_server(
            server, secret, {}, deadline, "the client", lambda ident: closed.wait(5.0) and None
        )
    )
    hello = auth._message(b"\1" * auth.NONCE_BYTES, {"rank": 1})
    wire.send_frame(client, Kind.HELLO, hello, deadline, "s")
    challenge = wire.recv_frame(client, Kind.CHALLENGE, deadline, "s")
    wire.send_frame(client, Kind.RESPONSE, auth._mac(secret, b"client", hello, challenge),
                    deadline, "s")  # fmt: skip
    client.close()
    closed.set()
    with pytest.raises(CommunicationError) as info:
        server_side()
    assert str(info.value) == "sending PROOF to the client failed: [Errno 32] Broken pipe"


def test_a_host_name_that_does_not_resolve_is_named_as_such():
    # it said "[Errno -2] Name or service not known; is that process still alive?"
    with pytest.raises(CommunicationError) as info:
        connect_authenticated(("no-such-host.invalid", 4000), new_job_secret(), {},
                              Deadline.after(0.5), "the rendezvous connection", 1 << 16)  # fmt: skip
    assert "host name 'no-such-host.invalid' does not resolve" in str(info.value)
    assert "check the address this rank was given" in str(info.value)
    assert "still alive" not in str(info.value)


def test_a_retry_woken_after_the_deadline_names_the_last_cause_not_a_timeout(monkeypatch):
    # Under load the back-off's sleep overran the deadline and the next attempt raised a
    # bare PeerTimeoutError: "does not resolve" was lost (seen at load ~30, session 21).
    real_sleep = time.sleep
    monkeypatch.setattr(auth.time, "sleep", lambda s: real_sleep(s + 0.6))  # woken late
    with pytest.raises(CommunicationError) as info:
        connect_authenticated(("no-such-host.invalid", 4000), new_job_secret(), {},
                              Deadline.after(0.5), "the rendezvous connection", 1 << 16)  # fmt: skip
    assert not isinstance(info.value, PeerTimeoutError)
    assert "gave up on the rendezvous connection" in str(info.value)
    assert "host name 'no-such-host.invalid' does not resolve" in str(info.value)
    assert isinstance(info.value.__cause__, CommunicationError)


@pytest.mark.parametrize("port", [70000, -1, 0, "4000", True])
def test_a_port_out_of_range_is_refused_before_any_connection(port):
    # getaddrinfo wrapped 70000 to 4464 and connected there; bind() raised OverflowError
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"port must be an integer in \[1, 65535\]"):
        connect_authenticated(("127.0.0.1", port), new_job_secret(), {}, Deadline.after(5.0),
                              "the rendezvous connection", 1 << 16)  # fmt: skip
    assert time.monotonic() - started < 1.0  # no retries
    if port != 0:  # 0 is "any free port" for a listener
        with pytest.raises(ConfigError, match=r"listening on 127\.0\.0\.1: port must be"):
            wire.open_listener("127.0.0.1", port)
