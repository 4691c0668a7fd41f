"""Mutual HMAC authentication: right secrets pass, anything else is refused and logged."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
from typing import Any

import pytest

from dlcore.collective import auth, new_job_secret, wire
from dlcore.collective.auth import authenticate_server, connect_authenticated
from dlcore.collective.wire import Deadline, Kind, open_listener, pack_header
from dlcore.errors import (
    AuthenticationError,
    CommunicationError,
    ConfigError,
    PeerTimeoutError,
    WireVersionError,
)
from tests.threads import in_thread

AUTH_LOGGER = "dlcore.collective.auth"


def handshake(pair, client_secret, server_secret, check=None):
    client, server = pair
    deadline = Deadline.after(5.0)
    server_side = in_thread(
        lambda: auth.authenticate_server(
            server, server_secret, {"who": "server"}, deadline, "client", check
        )
    )
    client_result: Any
    try:
        client_result = auth.authenticate_client(
            client, client_secret, {"who": "client", "rank": 1}, deadline, "server"
        )
    except AuthenticationError as exc:
        client_result = exc
    try:
        server_result = server_side()
    except AuthenticationError as exc:
        server_result = exc
    return client_result, server_result


def test_job_secrets_are_random_and_long_enough():
    a, b = new_job_secret(), new_job_secret()
    assert len(a) == 32 and a != b
    with pytest.raises(ConfigError, match=">= 16 bytes"):
        new_job_secret(8)


@pytest.mark.parametrize("bad", ["a-string-secret-of-enough-length", b"short"])
def test_secrets_must_be_long_bytes(bad):
    with pytest.raises(ConfigError, match="job secret must be bytes"):
        auth.check_secret(bad)


def test_same_secret_authenticates_both_sides(pair):
    secret = new_job_secret()
    client_saw, server_saw = handshake(pair, secret, secret)
    assert client_saw == {"who": "server"}
    assert server_saw == {"who": "client", "rank": 1}


def test_wrong_secret_is_refused_and_logged_without_the_secret(pair, caplog):
    right, wrong = new_job_secret(), new_job_secret()
    with caplog.at_level(logging.WARNING, logger=AUTH_LOGGER):
        client_saw, server_saw = handshake(pair, wrong, right)
    assert isinstance(server_saw, AuthenticationError)
    assert isinstance(client_saw, AuthenticationError)
    assert "wrong job secret" in str(client_saw)
    assert "refused connection from client" in caplog.text
    assert "wrong job secret" in caplog.text
    for s in (right, wrong):
        assert s.hex() not in caplog.text and repr(s) not in caplog.text


def test_identity_check_refuses_authenticated_but_unwanted_peers(pair, caplog):
    secret = new_job_secret()
    with caplog.at_level(logging.WARNING, logger=AUTH_LOGGER):
        client_saw, server_saw = handshake(
            pair, secret, secret, check=lambda ident: f"rank {ident['rank']} is not my neighbour"
        )
    assert isinstance(client_saw, AuthenticationError)
    assert "rank 1 is not my neighbour" in str(client_saw)
    assert isinstance(server_saw, AuthenticationError)
    assert "rank 1 is not my neighbour" in caplog.text


def test_client_refuses_a_server_that_cannot_prove_the_secret(pair, caplog):
    client, fake_server = pair
    deadline = Deadline.after(5.0)

    def impostor() -> None:  # plays the server's part but does not know the secret
        wire.recv_frame(fake_server, Kind.HELLO, deadline, "client")
        challenge = auth._message(b"\1" * auth.NONCE_BYTES, {"who": "impostor"})
        wire.send_frame(fake_server, Kind.CHALLENGE, challenge, deadline, "client")
        wire.recv_frame(fake_server, Kind.RESPONSE, deadline, "client")
        wire.send_frame(fake_server, Kind.PROOF, b"\0" * 32, deadline, "client")

    done = in_thread(impostor)
    with (
        caplog.at_level(logging.WARNING, logger=AUTH_LOGGER),
        pytest.raises(AuthenticationError, match="did not prove knowledge of the job secret"),
    ):
        auth.authenticate_client(client, new_job_secret(), {"rank": 0}, deadline, "server")
    done()
    assert "refusing server" in caplog.text


def test_a_stranger_speaking_another_protocol_is_refused_and_logged(pair, caplog):
    stranger, server = pair
    stranger.sendall(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    with (
        caplog.at_level(logging.WARNING, logger=AUTH_LOGGER),
        pytest.raises(AuthenticationError, match="handshake failed.*not a dlcore.collective frame"),
    ):
        auth.authenticate_server(server, new_job_secret(), {}, Deadline.after(5.0), "stranger")
    assert "refused connection from stranger" in caplog.text


def test_a_silent_stranger_is_refused_at_the_handshake_deadline(pair, caplog):
    _, server = pair
    with (
        caplog.at_level(logging.WARNING, logger=AUTH_LOGGER),
        pytest.raises(AuthenticationError, match="handshake failed: deadline of 0.05 s"),
    ):
        auth.authenticate_server(server, new_job_secret(), {}, Deadline.after(0.05), "stranger")


def test_macs_bind_role_and_both_messages():
    secret = new_job_secret()
    base = auth._mac(secret, b"client", b"hello", b"challenge")
    assert base != auth._mac(secret, b"server", b"hello", b"challenge")
    assert base != auth._mac(secret, b"client", b"hello", b"challengf")
    # Length prefixes: moving bytes between the two parts changes the MAC.
    assert base != auth._mac(secret, b"client", b"helloc", b"hallenge")


def _flip_last_byte(digest: bytes) -> bytes:
    return digest[:-1] + bytes([digest[-1] ^ 0x01])


def test_server_refuses_a_response_wrong_only_in_its_last_byte(pair):
    client, server = pair
    secret, deadline = new_job_secret(), Deadline.after(5.0)
    server_side = in_thread(
        lambda: auth.authenticate_server(server, secret, {"who": "server"}, deadline, "client")
    )
    hello = auth._message(b"\2" * auth.NONCE_BYTES, {"who": "client"})
    wire.send_frame(client, Kind.HELLO, hello, deadline, "server")
    challenge = wire.recv_frame(client, Kind.CHALLENGE, deadline, "server")
    right = auth._mac(secret, b"client", hello, challenge)
    wire.send_frame(client, Kind.RESPONSE, _flip_last_byte(right), deadline, "server")
    with pytest.raises(AuthenticationError, match="wrong job secret"):
        wire.recv_frame(client, Kind.PROOF, deadline, "server")
    with pytest.raises(AuthenticationError, match="authentication failed"):
        server_side()


def test_client_refuses_a_proof_wrong_only_in_its_last_byte(pair):
    client, fake_server = pair
    secret, deadline = new_job_secret(), Deadline.after(5.0)

    def almost_server() -> None:  # knows the secret but sends a proof off by one bit at the end
        hello = wire.recv_frame(fake_server, Kind.HELLO, deadline, "client")
        challenge = auth._message(b"\3" * auth.NONCE_BYTES, {"who": "almost"})
        wire.send_frame(fake_server, Kind.CHALLENGE, challenge, deadline, "client")
        wire.recv_frame(fake_server, Kind.RESPONSE, deadline, "client")
        proof = auth._mac(secret, b"server", hello, challenge)
        wire.send_frame(fake_server, Kind.PROOF, _flip_last_byte(proof), deadline, "client")

    done = in_thread(almost_server)
    with pytest.raises(AuthenticationError, match="did not prove knowledge of the job secret"):
        auth.authenticate_client(client, secret, {"rank": 0}, deadline, "server")
    done()


def test_client_accepts_the_exact_proof_from_a_hand_played_server(pair):
    """Control for the two tests above: the same hand-played server with the right bytes passes."""
    client, fake_server = pair
    secret, deadline = new_job_secret(), Deadline.after(5.0)

    def exact_server() -> None:
        hello = wire.recv_frame(fake_server, Kind.HELLO, deadline, "client")
        challenge = auth._message(b"\3" * auth.NONCE_BYTES, {"who": "exact"})
        wire.send_frame(fake_server, Kind.CHALLENGE, challenge, deadline, "client")
        wire.recv_frame(fake_server, Kind.RESPONSE, deadline, "client")
        wire.send_frame(fake_server, Kind.PROOF, auth._mac(secret, b"server", hello, challenge),
                        deadline, "client")  # fmt: skip

    done = in_thread(exact_server)
    assert auth.authenticate_client(client, secret, {"rank": 0}, deadline, "server") == {
        "who": "exact"
    }
    done()


def test_a_stranger_that_closes_before_its_hello_is_logged_quietly(pair, caplog):
    """A flood of such connections must not bury the real logs (the server counts them)."""
    stranger, server = pair
    stranger.close()
    with (
        caplog.at_level(logging.DEBUG, logger=AUTH_LOGGER),
        pytest.raises(AuthenticationError, match="handshake failed: .*closed the connection"),
    ):
        auth.authenticate_server(server, new_job_secret(), {}, Deadline.after(5.0), "stranger")
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


# -- connect_authenticated: retries with back-off, gives up naming the cause --------------
def _serve_after_refusing(secret: bytes, refusals: int | None):
    """A listener that evicts the first `refusals` connections (None: all), then authenticates."""
    listener = open_listener("127.0.0.1", 0)
    reason = b"server busy: test eviction"

    def run() -> None:
        count = 0
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                count += 1
                if refusals is None or count <= refusals:
                    conn.sendall(pack_header(Kind.ERROR, len(reason)) + reason)
                    continue
                with contextlib.suppress(CommunicationError):
                    authenticate_server(conn, secret, {"who": "late"}, Deadline.after(5.0), "c")

    threading.Thread(target=run, daemon=True).start()
    return listener


def test_client_retries_a_busy_server_with_back_off():
    secret = new_job_secret()
    listener = _serve_after_refusing(secret, refusals=3)
    try:
        started = time.monotonic()
        sock, theirs = connect_authenticated(
            listener.getsockname(), secret, {"rank": 0}, Deadline.after(10.0), "a test", 1 << 16
        )
        sock.close()
        assert theirs == {"who": "late"}
        assert time.monotonic() - started >= 0.05 * 0.5 * (1 + 2 + 4)  # backed off three times
    finally:
        listener.close()


def test_client_gives_up_at_its_deadline_naming_the_attempts_and_the_cause():
    secret = new_job_secret()
    listener = _serve_after_refusing(secret, refusals=None)
    try:
        with pytest.raises(
            CommunicationError,
            match=r"gave up on a test with 127.0.0.1:\d+: \d+ attempts over .* all failed before "
            r"authenticating \(deadline 1 s\). Last error: .*refused: server busy: test eviction",
        ) as info:
            connect_authenticated(
                listener.getsockname(), secret, {"rank": 0}, Deadline.after(1.0), "a test", 1 << 16
            )
        attempts = int(str(info.value).split(": ")[1].split()[0])
        assert 3 <= attempts < 40  # backed off: not hundreds of attempts in one second
    finally:
        listener.close()


def _answer_each(handle) -> tuple[socket.socket, list[int]]:
    """A listener whose thread hands each connection to `handle` (then closes it); the
    list counts the connections."""
    listener = open_listener("127.0.0.1", 0)
    attempts: list[int] = []

    def run() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            attempts.append(1)
            with conn:
                handle(conn)

    threading.Thread(target=run, daemon=True).start()
    return listener, attempts


def test_client_does_not_retry_a_refusal_after_authenticating():
    secret = new_job_secret()

    def refuse(conn: socket.socket) -> None:
        with contextlib.suppress(AuthenticationError):
            auth.authenticate_server(conn, secret, {}, Deadline.after(5.0), "c",
                                     lambda ident: "stale round 3")  # fmt: skip

    listener, attempts = _answer_each(refuse)
    try:
        with pytest.raises(AuthenticationError) as info:
            connect_authenticated(
                listener.getsockname(), secret, {}, Deadline.after(5.0), "a test", 1 << 16
            )
        port = listener.getsockname()[1]
        assert str(info.value) == f"127.0.0.1:{port} refused: stale round 3"
        assert attempts == [1]
    finally:
        listener.close()


def test_a_refusal_after_retries_names_the_attempts():
    secret = new_job_secret()
    listener = _serve_after_refusing(new_job_secret(), refusals=2)  # then: the wrong secret
    try:
        with pytest.raises(AuthenticationError) as info:
            connect_authenticated(
                listener.getsockname(), secret, {}, Deadline.after(10.0), "a test", 1 << 16
            )
        assert re.fullmatch(r"127\.0\.0\.1:\d+ refused: authentication failed \(wrong job "
                            r"secret\?\) \(after 3 attempts over \d+\.\d\d s\)", str(info.value))  # fmt: skip
    finally:
        listener.close()


def test_connect_timeout_after_retries_names_the_attempts():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts in the kernel, never answers: the handshake times out
    try:
        with pytest.raises(PeerTimeoutError) as info:
            connect_authenticated(
                silent.getsockname(), new_job_secret(), {}, Deadline.after(0.3), "a test", 1 << 16
            )
        assert "(after" not in str(info.value)  # a first attempt that timed out: as it was
    finally:
        silent.close()


def test_check_secret_boundaries_and_messages():
    assert auth.check_secret(bytearray(16)) == b"\0" * 16
    assert type(auth.check_secret(bytearray(16))) is bytes
    with pytest.raises(ConfigError) as info:
        auth.check_secret(b"x" * 15)
    assert str(info.value) == (
        "the job secret must be bytes of length >= 16 (use new_job_secret()). "
        "Received: bytes of length 15"
    )
    with pytest.raises(ConfigError) as info:
        auth.check_secret("s" * 40)
    assert str(info.value).endswith("Received: str of length n/a")
    assert len(new_job_secret(16)) == 16
    with pytest.raises(ConfigError) as info:
        new_job_secret(15)
    assert str(info.value) == "a job secret needs >= 16 bytes. Received: 15"


def test_client_sending_hello_to_a_closed_server_names_it(pair):
    client, server = pair
    server.close()
    with pytest.raises(CommunicationError) as info:
        auth.authenticate_client(client, new_job_secret(), {}, Deadline.after(5.0), "the server")
    assert re.fullmatch(r"sending HELLO to the server failed: .+", str(info.value))


def test_a_peer_of_another_wire_version_is_not_retried():
    """Review 49: another dlcore's peer answers every attempt in its own wire version, so
    the client retried until its connect deadline (14.2 s of 15 measured) before the same
    "speaks wire version" error it had at the first attempt."""
    header = wire.HEADER.pack(wire.MAGIC, wire.VERSION - 1, int(Kind.ERROR), 0, 0, 0)
    listener, attempts = _answer_each(lambda conn: conn.sendall(header))
    try:
        started = time.monotonic()
        with pytest.raises(WireVersionError, match=rf"speaks wire version {wire.VERSION - 1}, "):
            connect_authenticated(
                listener.getsockname(), new_job_secret(), {}, Deadline.after(10.0), "a test",
                1 << 16,
            )  # fmt: skip
        assert attempts == [1]
        assert time.monotonic() - started < 5.0
    finally:
        listener.close()
