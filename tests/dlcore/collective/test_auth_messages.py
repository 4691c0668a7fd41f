"""The handshake's exact bytes, and what every failed step says and logs.

A known-answer test pins the MAC construction (length-prefixed parts, HMAC-SHA256)
and the message encoding; each failure step is driven by a hand-played peer on a
socketpair and its error message and log line are pinned whole.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket

import pytest

from dlcore.collective import auth, new_job_secret, wire
from dlcore.collective.wire import Deadline, Kind
from dlcore.errors import AuthenticationError, CommunicationError, FrameError, PeerTimeoutError
from tests.dlcore.collective._sockets import STALLED, soon
from tests.threads import in_thread

LOGGER = "dlcore.collective.auth"
SECRET = bytes(range(32))


def test_mac_known_answer():
    def part(p: bytes) -> bytes:
        return len(p).to_bytes(4, "big") + p

    msg = part(b"dlcore.collective/auth/v1") + part(b"client") + part(b"H") + part(b"CC")
    assert (
        auth._mac(SECRET, b"client", b"H", b"CC") == hmac.new(SECRET, msg, hashlib.sha256).digest()
    )


def test_message_encoding_is_sorted_json():
    assert auth._message(b"\x01" * 32, {"b": 1, "a": [2]}) == (
        b'{"identity": {"a": [2], "b": 1}, "nonce": "' + b"01" * 32 + b'"}'
    )


@pytest.mark.parametrize(
    "payload, detail",
    [
        (b"{}", "KeyError('nonce')"),
        (b'{"nonce": "zz", "identity": {}}', "ValueError('non-hexadecimal number found in fromhex() arg at position 0')"),
    ],
)  # fmt: skip
def test_malformed_hello_is_named(pair, payload, detail, caplog):
    client, server = pair
    wire.send_frame(client, Kind.HELLO, payload, soon(), "s")
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        pytest.raises(AuthenticationError) as info,
    ):
        auth.authenticate_server(server, SECRET, {}, soon(), "peer P")
    reason = f"handshake failed: peer P sent a malformed HELLO message: {detail}"
    assert str(info.value) == f"refused connection from peer P: {reason}"
    assert [r.getMessage() for r in caplog.records] == [
        f"refused connection from peer P (claims ?): {reason}"
    ]
    refused = wire.recv_frame(client, Kind.REFUSED, soon(), "s")
    assert refused == reason.encode()


@pytest.mark.parametrize(
    "nonce, identity", [(b"\1" * 31, {}), (b"\1" * 32, ["not", "a", "dict"])]
)  # fmt: skip
def test_hello_with_a_short_nonce_or_no_identity_object_is_refused(pair, nonce, identity):
    client, server = pair
    body = json.dumps({"nonce": nonce.hex(), "identity": identity})
    wire.send_frame(client, Kind.HELLO, body.encode(), soon(), "s")
    with pytest.raises(AuthenticationError) as info:
        auth.authenticate_server(server, SECRET, {}, soon(), "peer P")
    assert str(info.value) == (
        "refused connection from peer P: handshake failed: peer P sent a malformed HELLO "
        "message (nonce or identity)"
    )


def test_malformed_challenge_is_named(pair):
    client, server = pair
    done = in_thread(lambda: auth.authenticate_client(client, SECRET, {}, soon(), "server S"))
    wire.recv_frame(server, Kind.HELLO, soon(), "c")
    wire.send_frame(server, Kind.CHALLENGE, b"[]", soon(), "c")
    with pytest.raises(FrameError) as info:
        done()
    assert str(info.value) == (
        "server S sent a malformed CHALLENGE message: TypeError('list indices must be integers "
        "or slices, not str')"
    )


@pytest.mark.parametrize("stop_after", ["nothing", "hello"])
def test_client_timeouts_name_the_step_and_the_server(pair, stop_after):
    client, server = pair
    done = in_thread(
        lambda: auth.authenticate_client(client, SECRET, {}, Deadline.after(0.3), "server S")
    )
    if stop_after == "hello":
        hello = wire.recv_frame(server, Kind.HELLO, soon(), "c")
        challenge = auth._message(b"\2" * 32, {"who": "s"})
        wire.send_frame(server, Kind.CHALLENGE, challenge, soon(), "c")
        wire.recv_frame(server, Kind.RESPONSE, soon(), "c")
        del hello
    with pytest.raises(PeerTimeoutError) as info:
        done()
    what = "a CHALLENGE frame" if stop_after == "nothing" else "a PROOF frame"
    assert (
        str(info.value)
        == f"deadline of 0.3 s passed while waiting for {what} from server S{STALLED}"
    )


def test_server_timeout_after_challenge_names_the_step_and_logs_the_claimed_identity(pair, caplog):
    client, server = pair
    wire.send_frame(client, Kind.HELLO, auth._message(b"\3" * 32, {"rank": 5}), soon(), "s")
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        pytest.raises(AuthenticationError) as info,
    ):
        auth.authenticate_server(server, SECRET, {}, Deadline.after(0.3), "peer P")
    reason = f"handshake failed: deadline of 0.3 s passed while waiting for a RESPONSE frame from peer P{STALLED}"
    assert str(info.value) == f"refused connection from peer P: {reason}"
    assert [r.getMessage() for r in caplog.records] == [
        f"refused connection from peer P (claims {{'rank': 5}}): {reason}"
    ]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]  # it sent a HELLO: not quiet


def test_wrong_mac_and_check_refusals_are_logged_with_the_claimed_identity(pair, caplog):
    for reason_from_check in (None, "rank 5 is stale"):
        client, server = socket.socketpair()
        with client, server:
            secret = new_job_secret()
            client_secret = new_job_secret() if reason_from_check is None else secret
            server_side = in_thread(
                lambda s=server, sec=secret, r=reason_from_check: auth.authenticate_server(
                    s, sec, {}, soon(), "peer P", (lambda ident, r=r: r) if r else None
                )
            )
            caplog.clear()
            with (
                caplog.at_level(logging.WARNING, logger=LOGGER),
                pytest.raises(AuthenticationError) as client_info,
            ):
                auth.authenticate_client(client, client_secret, {"rank": 5}, soon(), "server S")
            with pytest.raises(AuthenticationError) as server_info:
                server_side()
            reason = reason_from_check or "authentication failed (wrong job secret?)"
            assert str(client_info.value) == f"server S refused: {reason}"
            assert str(server_info.value) == f"refused connection from peer P: {reason}"
            assert [r.getMessage() for r in caplog.records] == [
                f"refused connection from peer P (claims {{'rank': 5}}): {reason}"
            ]


def test_client_refusing_a_fake_proof_logs_the_server_and_its_claim(pair, caplog):
    client, fake = pair

    def impostor() -> None:
        wire.recv_frame(fake, Kind.HELLO, soon(), "c")
        wire.send_frame(fake, Kind.CHALLENGE, auth._message(b"\4" * 32, {"who": "x"}), soon(), "c")
        wire.recv_frame(fake, Kind.RESPONSE, soon(), "c")
        wire.send_frame(fake, Kind.PROOF, b"\0" * 32, soon(), "c")

    done = in_thread(impostor)
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        pytest.raises(AuthenticationError) as info,
    ):
        auth.authenticate_client(client, SECRET, {}, soon(), "server S")
    done()
    assert str(info.value) == (
        "server S did not prove knowledge of the job secret; it belongs to another job or is not "
        "a dlcore worker. Check the rendezvous address and the secret."
    )
    assert [r.getMessage() for r in caplog.records] == [
        "refusing server server S (claims {'who': 'x'}): it did not prove the job secret"
    ]


def test_on_hello_receives_the_claimed_identity(pair):
    client, server = pair
    seen = []
    wire.send_frame(client, Kind.HELLO, auth._message(b"\5" * 32, {"rank": 2}), soon(), "s")
    client.close()
    with pytest.raises(AuthenticationError):
        auth.authenticate_server(server, SECRET, {}, soon(), "peer P", on_hello=seen.append)
    assert seen == [{"rank": 2}]


def test_sends_to_a_vanished_peer_name_the_frame_and_the_peer(pair):
    client, server = pair
    wire.send_frame(client, Kind.HELLO, auth._message(b"\6" * 32, {}), soon(), "s")
    client.shutdown(socket.SHUT_RD)  # it cannot read our challenge
    client.close()
    with pytest.raises(AuthenticationError) as info:
        auth.authenticate_server(server, SECRET, {}, soon(), "peer P")
    text = str(info.value)
    assert text.startswith("refused connection from peer P: handshake failed: ")
    assert "peer P" in text.split("handshake failed: ", 1)[1]


def test_communication_error_types_are_kept(pair):
    assert issubclass(AuthenticationError, CommunicationError)
