"""Mutual HMAC authentication: right secrets pass, anything else is refused and logged."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dlcore.collective import auth, new_job_secret, wire
from dlcore.collective.wire import Deadline, Kind
from dlcore.errors import AuthenticationError, ConfigError

AUTH_LOGGER = "dlcore.collective.auth"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start fn on a thread; the returned callable joins it and returns or raises its outcome."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def result() -> Any:
        thread.join(timeout=10)
        assert not thread.is_alive(), "handshake thread hung"
        if "error" in box:
            raise box["error"]
        return box["value"]

    return result


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
