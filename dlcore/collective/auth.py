"""Mutual challenge-response authentication of every connection with a per-job secret.

Owns: the handshake that both ends of every `dlcore.collective` connection run before
anything else, and `new_job_secret()`. Does not own encryption: frames travel in
the clear, so run jobs inside a trusted network; what this prevents is a stranger
(or a worker of another job, or of an older round) joining or feeding a group.

Protocol (HMAC-SHA256, RFC 2104; the secret never travels):

    client -> server  HELLO     {nonce_c, identity_c}
    server -> client  CHALLENGE {nonce_s, identity_s}
    client -> server  RESPONSE  HMAC(secret, "client" | HELLO | CHALLENGE)
    server -> client  PROOF     HMAC(secret, "server" | HELLO | CHALLENGE)   or REFUSED

Each MAC covers both fresh random nonces and both identities, so an old answer cannot
be replayed, and the role labels stop a reflected answer from passing as the other
side's. The server checks the client first and only then proves itself, so a
stranger learns nothing that is computed with the secret. MACs are compared with
`hmac.compare_digest`. Refusals are logged (never the secret, never a MAC).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import random
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any, NoReturn

from dlcore.collective.wire import Deadline, Kind, connect, recv_frame, send_frame
from dlcore.errors import (
    AuthenticationError,
    CommunicationError,
    ConfigError,
    FrameError,
    PeerTimeoutError,
    WireVersionError,
)

logger = logging.getLogger(__name__)

PROTOCOL_LABEL = b"dlcore.collective/auth/v1"
NONCE_BYTES = 32
MIN_SECRET_BYTES = 16
RETRY_FIRST_S = 0.05  # connect_authenticated: first back-off, doubled per attempt
RETRY_MAX_S = 2.0

Identity = dict[str, Any]
IdentityCheck = Callable[[Identity], str | None]


def new_job_secret(nbytes: int = 32) -> bytes:
    """A fresh random per-job secret. Hand it to workers in the task closure, never log it."""
    if nbytes < MIN_SECRET_BYTES:
        raise ConfigError(f"a job secret needs >= {MIN_SECRET_BYTES} bytes. Received: {nbytes}")
    return secrets.token_bytes(nbytes)


def check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        kind = type(secret).__name__
        size = len(secret) if isinstance(secret, bytes | bytearray) else "n/a"
        raise ConfigError(
            f"the job secret must be bytes of length >= {MIN_SECRET_BYTES} "
            f"(use new_job_secret()). Received: {kind} of length {size}"
        )
    return bytes(secret)


def _mac(secret: bytes, role: bytes, hello: bytes, challenge: bytes) -> bytes:
    # Length-prefix each part so that no two different transcripts hash the same.
    parts = (PROTOCOL_LABEL, role, hello, challenge)
    msg = b"".join(len(p).to_bytes(4) + p for p in parts)  # big-endian
    return hmac.new(secret, msg, hashlib.sha256).digest()


def _message(nonce: bytes, identity: Identity) -> bytes:
    return json.dumps({"nonce": nonce.hex(), "identity": identity}, sort_keys=True).encode()


def _parse(payload: bytes, kind: Kind, peer: str) -> Identity:
    try:
        obj = json.loads(payload)
        nonce = bytes.fromhex(obj["nonce"])
        identity = obj["identity"]
    except (ValueError, TypeError, KeyError) as exc:
        raise FrameError(f"{peer} sent a malformed {kind.name} message: {exc!r}") from None
    if len(nonce) != NONCE_BYTES or not isinstance(identity, dict):
        raise FrameError(f"{peer} sent a malformed {kind.name} message (nonce or identity)")
    return identity


def authenticate_client(
    sock: socket.socket, secret: bytes, identity: Identity, deadline: Deadline, peer: str
) -> Identity:
    """Run the client side on a fresh connection; returns the server's proven identity."""
    # token_bytes() defaults to 32 bytes = NONCE_BYTES: a mutant dropping it is equivalent.
    hello = _message(secrets.token_bytes(NONCE_BYTES), identity)  # pragma: no mutate
    send_frame(sock, Kind.HELLO, hello, deadline, peer)
    challenge = recv_frame(sock, Kind.CHALLENGE, deadline, peer)
    server_identity = _parse(challenge, Kind.CHALLENGE, peer)
    send_frame(sock, Kind.RESPONSE, _mac(secret, b"client", hello, challenge), deadline, peer)
    proof = recv_frame(sock, Kind.PROOF, deadline, peer)
    if not hmac.compare_digest(proof, _mac(secret, b"server", hello, challenge)):
        logger.warning(
            "refusing server %s (claims %s): it did not prove the job secret", peer, server_identity
        )
        raise AuthenticationError(
            f"{peer} did not prove knowledge of the job secret; it belongs to another job "
            "or is not a dlcore worker. Check the rendezvous address and the secret."
        )
    return server_identity


def authenticate_server(
    sock: socket.socket,
    secret: bytes,
    identity: Identity,
    deadline: Deadline,
    peer: str,
    check: IdentityCheck | None = None,
    *,
    on_hello: Callable[[Identity], None] | None = None,
    warn: Callable[[], bool] | None = None,
) -> Identity:
    """Run the server side on an accepted connection; returns the client's proven identity.

    `check(identity)` may return a reason to refuse an authenticated client (wrong rank,
    stale round); it runs after the client's MAC checked out and before our proof is
    sent. `on_hello(claimed identity)` runs when the HELLO arrived (a handshake is under
    way). Every refusal is raised as AuthenticationError and logged: at WARNING, or at
    DEBUG where `warn()`, asked once at the refusal, says False (a server that already
    warned about this host: a flood of garbage must not bury the real logs).
    """
    # Any falsy start value means "no HELLO parsed yet": equivalent mutants (docs/TESTING.md).
    client_identity: Identity = {}  # pragma: no mutate
    try:
        hello = recv_frame(sock, Kind.HELLO, deadline, peer)
        client_identity = _parse(hello, Kind.HELLO, peer)
        if on_hello is not None:
            on_hello(client_identity)
        challenge = _message(secrets.token_bytes(NONCE_BYTES), identity)  # pragma: no mutate
        send_frame(sock, Kind.CHALLENGE, challenge, deadline, peer)
        response = recv_frame(sock, Kind.RESPONSE, deadline, peer)
    except CommunicationError as exc:
        # A connection that closed or stayed silent before its HELLO is a scanner or a
        # flood, not a failed login: DEBUG, so that a flood does not bury the real logs
        # (ConnectionServer counts and reports those). Garbage bytes stay a WARNING (the
        # first from each host, where the server passes `warn`).
        quiet = not client_identity and not isinstance(exc, FrameError)
        reason = f"handshake failed: {exc}"
        _refuse(sock, peer, client_identity, reason, deadline, quiet or _quiet(warn))
    if not hmac.compare_digest(response, _mac(secret, b"client", hello, challenge)):
        reason = "authentication failed (wrong job secret?)"
        _refuse(sock, peer, client_identity, reason, deadline, _quiet(warn))
    reason = check(client_identity) if check else None
    if reason:
        _refuse(sock, peer, client_identity, reason, deadline, _quiet(warn))
    send_frame(sock, Kind.PROOF, _mac(secret, b"server", hello, challenge), deadline, peer)
    return client_identity


def _quiet(warn: Callable[[], bool] | None) -> bool:
    return warn is not None and not warn()


def _refuse(
    sock: socket.socket,
    peer: str,
    claimed: Identity,
    reason: str,
    deadline: Deadline,
    quiet: bool = False,
) -> NoReturn:
    level = logging.DEBUG if quiet else logging.WARNING
    logger.log(level, "refused connection from %s (claims %s): %s", peer, claimed or "?", reason)
    with contextlib.suppress(CommunicationError):  # best effort: the peer may be gone
        send_frame(
            sock,
            Kind.REFUSED,
            reason.encode()[:4096],
            deadline,
            peer,  # pragma: no mutate (only named in the error suppressed here: equivalent)
        )
    raise AuthenticationError(f"refused connection from {peer}: {reason}")


def connect_authenticated(
    address: tuple[str, int],
    secret: bytes,
    identity: Identity,
    deadline: Deadline,
    what: str,
    buffer_bytes: int,
    *,
    retry_connect: bool = True,
) -> tuple[socket.socket, Identity]:
    """Connect and authenticate as a client, retrying with back-off until `deadline`.

    Retried: a refused or reset connection (unless `retry_connect` is False: a peer
    whose port was open before we learnt its address has gone when it refuses), a
    server that closed or evicted us before the handshake finished (a busy server, a
    connection flood). Not retried: a peer that refused us after authenticating
    (AuthenticationError: wrong secret, stale round), a peer of another wire version
    (WireVersionError: another dlcore, which a retry cannot change) and a passed deadline. The final
    error names every attempt's outcome count and the last cause. Returns the socket
    and the server's proven identity.
    """
    peer = f"{address[0]}:{address[1]}"
    started, delay, attempts = time.monotonic(), RETRY_FIRST_S, 0
    while True:
        attempts += 1
        sock: socket.socket | None = None
        try:
            sock = connect(address, deadline, what, buffer_bytes)
            return sock, authenticate_client(sock, secret, identity, deadline, peer)
        except (AuthenticationError, PeerTimeoutError, WireVersionError) as exc:
            if sock is not None:
                sock.close()
            if attempts == 1:
                raise
            raise type(exc)(f"{exc} (after {attempts} attempts over {_since(started)})") from exc
        except CommunicationError as exc:
            if sock is None and not retry_connect:
                raise
            if sock is not None:
                sock.close()
            last = exc
        pause = delay * random.uniform(0.5, 1.0)  # jitter: retrying clients do not move in step
        # The time left never equals `pause` exactly (floats of clock readings), so `<` and
        # `<=` cannot be told apart: equivalent mutants (docs/TESTING.md).
        if deadline.at - time.monotonic() <= pause:  # pragma: no mutate
            raise _gave_up(what, peer, attempts, started, deadline, last)
        logger.info("%s with %s failed (%s); retrying in %.2f s", what, peer, last, pause)
        time.sleep(pause)
        if time.monotonic() >= deadline.at:  # woken late (a loaded machine): the last cause,
            raise _gave_up(what, peer, attempts, started, deadline, last)  # not a timeout
        delay = min(delay * 2, RETRY_MAX_S)


def _gave_up(
    what: str, peer: str, attempts: int, started: float, deadline: Deadline, last: Exception
) -> CommunicationError:
    error = CommunicationError(
        f"gave up on {what} with {peer}: {attempts} attempts over {_since(started)} "
        f"all failed before authenticating (deadline {deadline.budget:.3g} s). "
        f"Last error: {last}"
    )
    error.__cause__ = last
    return error


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.2f} s"
