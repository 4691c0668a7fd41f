"""Wire edges: limits at the boundary, expired deadlines, split payloads, resets, socket options.

Every message pinned whole. These close the gaps the mutation check (`make mutation`)
found in wire.py; the round trips and the first messages are in test_wire*.py.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time

import numpy as np
import pytest

from dlcore.collective import wire
from dlcore.collective.wire import Deadline, FrameHeader, Kind
from dlcore.errors import CommunicationError, FrameError
from tests.dlcore.collective._sockets import STALLED, P, header, soon


def gone() -> Deadline:
    return Deadline(time.monotonic() - 1.0, 0.5)


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises((FrameError, CommunicationError)) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_an_expired_deadline_names_what_and_whom_before_any_io(pair):
    a, b = pair
    assert error_of(wire.send_frame, a, Kind.HELLO, b"x", gone(), P) == (
        f"deadline of 0.5 s passed while waiting for room to send HELLO from {P}{STALLED}"
    )
    assert error_of(wire.recv_frame, b, Kind.PEERS, gone(), P) == (
        f"deadline of 0.5 s passed while waiting for a PEERS frame from {P}{STALLED}"
    )


def test_header_refusals_name_the_peer_and_the_wait(pair):
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\nHost")  # exactly one header's worth of bytes
    assert error_of(wire.recv_frame, b, Kind.HELLO, soon(), P) == (
        f"{P} sent bytes that are not a dlcore.collective frame while we waited for a HELLO "
        "frame: expected magic b'DLCW', received b'GET '. Is another program connecting to "
        "this port?"
    )
    a.sendall(header(Kind.PEERS, version=wire.VERSION + 1))
    assert error_of(wire.recv_frame, b, Kind.HELLO, soon(), P) == (
        f"{P} speaks wire version 4, this process speaks 3; run the same dlcore version on "
        "every worker"
    )
    a.sendall(header(Kind.GATHER, 2))
    assert error_of(wire.recv_frame, b, Kind.PEERS, soon(), P) == (
        f"{P} sent a GATHER frame while we waited for a PEERS frame (expected PEERS); do all "
        "ranks call the same collectives in the same order?"
    )


def test_check_header_names_every_expected_kind_and_the_shm_hint():
    with pytest.raises(FrameError) as info:
        wire.check_header(FrameHeader(Kind.TENSOR, 0, 4), (Kind.REDUCE, Kind.GATHER), 64, "w", P)
    assert str(info.value) == (
        f"{P} sent a TENSOR frame while we waited for w (expected REDUCE or GATHER); do all "
        "ranks call the same collectives in the same order?"
    )
    with pytest.raises(FrameError) as info:
        wire.check_header(FrameHeader(Kind.SHM, 0, 4), (Kind.TENSOR,), 64, "w", P)
    assert str(info.value) == (
        f"{P} sent a SHM frame while we waited for w (expected TENSOR); do all ranks call the "
        "same collectives in the same order? (SHM frames come from the shared-memory "
        "transport: do all ranks use the same CommConfig.transport and DLCORE_TRANSPORT?)"
    )


def test_frame_size_limits_are_inclusive(pair):
    a, b = pair
    a.sendall(header(Kind.PEERS, 4) + b"abcd")
    assert wire.recv_frame(b, Kind.PEERS, soon(), P, max_size=4) == b"abcd"
    a.sendall(header(Kind.PEERS, 5))
    assert error_of(wire.recv_frame, b, Kind.PEERS, soon(), P, max_size=4) == (
        f"{P} announced a PEERS frame of 5 bytes, over the limit of 4 bytes for a PEERS frame; "
        "refusing to read it"
    )


def test_a_control_frame_of_exactly_the_limit_is_sent(pair):
    a, b = pair
    payload = b"z" * wire.MAX_CONTROL_FRAME
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(wire.recv_frame(b, Kind.PEERS, soon(), P)))
    reader.start()
    wire.send_frame(a, Kind.PEERS, payload, soon(), P)
    reader.join(5.0)
    assert got == [payload]
    assert error_of(wire.send_frame, a, Kind.PEERS, payload + b"z", soon(), P) == (
        f"refusing to send a PEERS frame of {wire.MAX_CONTROL_FRAME + 1} bytes to {P}: control "
        f"frames are limited to {wire.MAX_CONTROL_FRAME} bytes"
    )


def test_send_frame_writes_tag_zero(pair):
    a, b = pair
    wire.send_frame(a, Kind.HELLO, b"hi", soon(), P)
    assert b.recv(wire.HEADER.size + 2, socket.MSG_WAITALL) == header(Kind.HELLO, 2) + b"hi"


def test_a_payload_arriving_in_pieces_is_put_together(pair):
    a, b = pair
    body = bytes(range(40))

    def trickle() -> None:
        a.sendall(header(Kind.PEERS, len(body)))
        for i in range(0, len(body), 10):
            time.sleep(0.02)
            a.sendall(body[i : i + 10])

    threading.Thread(target=trickle).start()
    assert wire.recv_frame(b, Kind.PEERS, soon(), P) == body


def test_a_peer_closing_mid_control_frame_is_named(pair):
    a, b = pair
    a.sendall(header(Kind.PEERS, 10) + b"ab")
    a.close()
    assert error_of(wire.recv_frame, b, Kind.PEERS, soon(), P) == (
        f"{P} closed the connection while we waited for a PEERS frame (2 of 10 bytes "
        "received): that process stopped, or it gave up because another rank failed (see the "
        "first error in the job's logs)"
    )


def test_a_reset_connection_is_named():
    listener = wire.open_listener("127.0.0.1", 0)
    client = wire.connect(listener.getsockname(), soon(), "x", 1 << 16)
    server, _ = listener.accept()
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # linger 0: the kernel answers with a reset
        time.sleep(0.1)
        message = error_of(wire.recv_frame, server, Kind.PEERS, soon(), P)
        assert re.fullmatch(
            rf"connection to {re.escape(P)} failed while waiting for a PEERS frame: "
            r"\[Errno 104\] Connection reset by peer",
            message,
        )
    finally:
        server.close()
        listener.close()


def test_byte_view_of_an_empty_multi_dimensional_array():
    assert wire.byte_view(np.zeros((0, 3), np.float32)).nbytes == 0


def test_buffers_only_grow():
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 15)  # Linux doubles it
        size = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        wire.configure_socket(sock, size)  # already that big: left alone (autotuning kept)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == size
        wire.configure_socket(sock, size + 2)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > size
    finally:
        sock.close()


def _queued_connections(address, limit: int) -> int:
    """How many connections the kernel completes for a listener that never accepts."""
    clients = []
    try:
        for _ in range(limit):
            try:
                clients.append(socket.create_connection(address, timeout=0.3))
            except TimeoutError:
                break
        return len(clients)
    finally:
        for c in clients:
            c.close()


def test_listener_defaults_all_interfaces_an_os_chosen_port_and_a_backlog_of_128():
    listener = wire.open_listener()
    try:
        host, port = listener.getsockname()[:2]
        assert host in ("0.0.0.0", "::") and port >= 1024
        assert _queued_connections(("127.0.0.1", port), 140) == 128 + 1  # Linux: backlog + 1
    finally:
        listener.close()


def test_listener_takes_the_given_backlog():
    listener = wire.open_listener("127.0.0.1", 0, backlog=2)
    try:
        assert _queued_connections(listener.getsockname(), 10) == 2 + 1
    finally:
        listener.close()
