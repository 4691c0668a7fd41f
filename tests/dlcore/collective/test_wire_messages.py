"""Every wire failure says exactly what was awaited, from whom, and what to do.

The messages are the user interface of a failed distributed job, so these tests pin
them whole (fullmatch), and pin the bytes that go on the wire. They also close the
gaps the mutation check (`make mutation`) found in wire.py.
"""

from __future__ import annotations

import re
import socket
import time

import numpy as np
import pytest

from dlcore.collective import wire
from dlcore.collective.wire import Deadline, Kind
from dlcore.errors import (
    AuthenticationError,
    CommunicationError,
    FrameError,
    PeerTimeoutError,
    ShapeError,
)
from tests.dlcore.collective._sockets import STALLED, P, full_backlog, header, soon


def exactly(exc_info, text: str) -> None:
    assert str(exc_info.value) == text


# -- recv_into --------------------------------------------------------------------------------
def test_recv_into_times_out_naming_the_frame_and_the_peer(pair):
    _, b = pair
    with pytest.raises(PeerTimeoutError) as info:
        wire.recv_into(b, np.zeros(4, np.float32), Deadline.after(0.05), P)
    exactly(
        info,
        f"deadline of 0.05 s passed while waiting for a TENSOR frame of 16 bytes from {P}{STALLED}",
    )


@pytest.mark.parametrize(
    "kind, cls", [(Kind.ERROR, CommunicationError), (Kind.REFUSED, AuthenticationError)]
)
def test_recv_into_raises_the_peers_error_frame(pair, kind, cls):
    a, b = pair
    a.sendall(header(kind, 4) + b"boom")
    with pytest.raises(cls) as info:
        wire.recv_into(b, np.zeros(4, np.float32), soon(), P)
    assert type(info.value) is cls
    exactly(info, f"{P} refused: boom")


def test_recv_into_refuses_another_kind(pair):
    a, b = pair
    a.sendall(header(Kind.GATHER, 16))
    with pytest.raises(FrameError) as info:
        wire.recv_into(b, np.zeros(4, np.float32), soon(), P)
    exactly(info, f"{P} sent a GATHER frame while we waited for a TENSOR frame of 16 bytes "
            "(expected TENSOR); do all ranks call the same collectives in the same order?")  # fmt: skip


def test_recv_into_refuses_an_oversized_frame(pair):
    a, b = pair
    a.sendall(header(Kind.TENSOR, wire.MAX_TENSOR_FRAME + 1))
    with pytest.raises(FrameError) as info:
        wire.recv_into(b, np.zeros(4, np.float32), soon(), P)
    exactly(info, f"{P} announced a TENSOR frame of {wire.MAX_TENSOR_FRAME + 1} bytes, over the "
            f"limit of {wire.MAX_TENSOR_FRAME} bytes for a TENSOR frame of 16 bytes; refusing to "
            "read it")  # fmt: skip


def test_recv_into_tag_and_length_mismatches(pair):
    a, b = pair
    a.sendall(header(Kind.TENSOR, 16, tag=3))
    with pytest.raises(FrameError) as info:
        wire.recv_into(b, np.zeros(4, np.float32), soon(), P, tag=4)
    exactly(info, f"{P} sent frame tag 3 while we waited for tag 4 (a TENSOR frame of 16 bytes); "
            "the ranks are out of step (a rank called a collective more or fewer times)")  # fmt: skip
    a.sendall(header(Kind.TENSOR, 12))
    with pytest.raises(FrameError) as info:
        wire.recv_into(b, np.zeros(4, np.float32), soon(), P)
    exactly(info, f"{P} sent 12 bytes while we expected 16 for a TENSOR frame of 16 bytes; "
            "do all ranks pass buffers of the same length and dtype?")  # fmt: skip


def test_recv_into_peer_closing_mid_payload(pair):
    a, b = pair
    a.sendall(header(Kind.TENSOR, 16) + b"12345678")
    a.close()
    with pytest.raises(CommunicationError) as info:
        wire.recv_into(b, np.zeros(4, np.float32), soon(), P)
    exactly(info, f"{P} closed the connection while we waited for a TENSOR frame of 16 bytes "
            "(8 of 16 bytes received): that process stopped, or it gave up because another "
            "rank failed (see the first error in the job's logs)")  # fmt: skip


def test_recv_into_needs_a_writeable_array(pair):
    _, b = pair
    out = np.zeros(4, np.float32)
    out.flags.writeable = False
    with pytest.raises(ShapeError) as info:
        wire.recv_into(b, out, soon(), P)
    exactly(info, "recv_into needs a writeable array")


# -- error frames ------------------------------------------------------------------------------
def test_error_frame_of_the_largest_allowed_size_is_read_and_decoded_leniently(pair):
    a, b = pair
    body = b"\xff" + b"x" * (wire.MAX_CONTROL_FRAME - 1)  # not UTF-8 at the start
    a.sendall(header(Kind.ERROR, len(body)) + body)
    with pytest.raises(CommunicationError) as info:
        wire.recv_frame(b, Kind.PEERS, soon(), P)
    exactly(info, f"{P} refused: \ufffd" + "x" * (wire.MAX_CONTROL_FRAME - 1))


def test_error_frame_over_the_control_limit_is_not_read(pair):
    a, b = pair
    a.sendall(header(Kind.ERROR, wire.MAX_CONTROL_FRAME + 1))
    with pytest.raises(FrameError) as info:
        wire.recv_frame(b, Kind.PEERS, soon(), P)
    exactly(info, f"{P} sent an oversized error frame ({wire.MAX_CONTROL_FRAME + 1} bytes)")


def test_error_frame_cut_short(pair):
    a, b = pair
    a.sendall(header(Kind.ERROR, 10) + b"half")
    a.close()
    with pytest.raises(CommunicationError) as info:
        wire.recv_frame(b, Kind.PEERS, soon(), P)
    exactly(info, f"{P} closed the connection while we waited for an error message (4 of 10 "
            "bytes received): that process stopped, or it gave up because another rank failed "
            "(see the first error in the job's logs)")  # fmt: skip


# -- send_array ------------------------------------------------------------------------------
def test_send_array_writes_header_then_raw_bytes_with_tag_zero_by_default(pair):
    a, b = pair
    arr = np.arange(3, dtype=np.float32)
    wire.send_array(a, arr, soon(), P)
    raw = b.recv(wire.HEADER.size + 12, socket.MSG_WAITALL)
    assert raw == header(Kind.TENSOR, 12, tag=0) + arr.tobytes()


def test_send_array_refuses_more_than_one_frame_before_touching_the_array(pair):
    a, _ = pair
    over = np.broadcast_to(np.zeros(1, np.uint8), (wire.MAX_TENSOR_FRAME + 1,))
    with pytest.raises(FrameError) as info:
        wire.send_array(a, over, soon(), P)
    exactly(info, f"refusing to send {wire.MAX_TENSOR_FRAME + 1} bytes to {P} in one frame; "
            f"the limit is {wire.MAX_TENSOR_FRAME} bytes")  # fmt: skip
    at_limit = np.broadcast_to(np.zeros(1, np.uint8), (wire.MAX_TENSOR_FRAME,))
    with pytest.raises(ShapeError, match="C-contiguous"):  # the size is allowed; the layout not
        wire.send_array(a, at_limit, soon(), P)


def test_send_array_to_a_peer_that_does_not_read_times_out_naming_it(pair):
    a, _ = pair
    big = np.zeros(8 << 20, np.uint8)
    expected = (
        f"deadline of 0.2 s passed while waiting for room to send TENSOR (peer not reading) "
        f"from {P}{STALLED}"
    )
    with pytest.raises(PeerTimeoutError) as info:  # the payload fills the socket buffers
        wire.send_array(a, big, Deadline.after(0.2), P)
    exactly(info, expected)
    with pytest.raises(PeerTimeoutError) as info:  # now even the header finds no room
        wire.send_array(a, big, Deadline.after(0.2), P)
    exactly(info, expected)


def test_empty_byte_view_is_empty():
    view = wire.byte_view(np.zeros(0, np.float32))
    assert view.nbytes == 0 and bytes(view) == b""
    assert wire.byte_view(np.array([1, 255], np.uint8)).tolist() == [1, 255]  # unsigned bytes


# -- JSON frames --------------------------------------------------------------------------------
def test_send_json_is_compact_on_the_wire(pair):
    a, b = pair
    wire.send_json(a, Kind.REGISTER, {"a": 1, "b": [1, 2]}, soon(), P)
    body = b'{"a":1,"b":[1,2]}'
    assert b.recv(wire.HEADER.size + len(body), socket.MSG_WAITALL) == (
        header(Kind.REGISTER, len(body)) + body
    )


def test_send_json_to_a_closed_peer_names_it(pair):
    a, b = pair
    b.close()
    with pytest.raises(CommunicationError) as info:
        wire.send_json(a, Kind.REGISTER, {"a": 1}, soon(), P)
    assert re.fullmatch(rf"sending REGISTER to {re.escape(P)} failed: .+", str(info.value))


def test_recv_json_names_what_it_waited_for(pair):
    _, b = pair
    with pytest.raises(PeerTimeoutError) as info:
        wire.recv_json(b, Kind.PEERS, Deadline.after(0.05), P, what="the peer table")
    exactly(info, f"deadline of 0.05 s passed while waiting for the peer table from {P}{STALLED}")


def test_recv_json_refuses_a_non_object(pair):
    a, b = pair
    wire.send_frame(a, Kind.PEERS, b"[1, 2]", soon(), P)
    with pytest.raises(FrameError) as info:
        wire.recv_json(b, Kind.PEERS, soon(), P)
    exactly(info, f"{P} sent a PEERS frame that is not a JSON object")


# -- connect / listen -----------------------------------------------------------------------------
def test_connect_with_no_time_left_names_what_and_where():
    gone = Deadline(time.monotonic() - 1.0, 0.5)
    with pytest.raises(PeerTimeoutError) as info:
        wire.connect(("127.0.0.1", 9), gone, "the ring connection", 1 << 16)
    exactly(
        info,
        f"deadline of 0.5 s passed while waiting for the ring connection from 127.0.0.1:9{STALLED}",
    )


def test_connect_to_a_full_backlog_times_out_naming_what_and_where():
    with full_backlog() as address, pytest.raises(PeerTimeoutError) as info:
        wire.connect(address, Deadline.after(0.3), "the boundary report connection", 1 << 16)
    exactly(info, "deadline of 0.3 s passed while waiting for the boundary report connection "
            f"from 127.0.0.1:{address[1]}{STALLED}")  # fmt: skip


def test_connect_configures_the_requested_buffer_size_only():
    listener = wire.open_listener("127.0.0.1", 0)
    try:
        sock = wire.connect(listener.getsockname(), soon(), "x", 1 << 16)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < wire.DEFAULT_SOCKET_BUFFER
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        sock.close()
    finally:
        listener.close()


def test_listening_on_a_taken_port_names_it():
    taken = wire.open_listener("127.0.0.1", 0)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(CommunicationError) as info:
            wire.open_listener("127.0.0.1", port)
        assert re.fullmatch(rf"cannot listen on 127\.0\.0\.1:{port}: .*Address already in use.*",
                            str(info.value))  # fmt: skip
    finally:
        taken.close()
