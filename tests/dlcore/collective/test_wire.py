"""Frames: round trips, and every malformed, oversized or late frame is refused clearly."""

from __future__ import annotations

import socket
import struct
import zlib

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
from tests.dlcore.collective._sockets import soon


def raw_header(magic=wire.MAGIC, version=wire.VERSION, kind=Kind.HELLO, tag=0, length=0):
    return wire.HEADER.pack(magic, version, int(kind), 0, tag, length)


def test_control_frame_round_trip(pair):
    a, b = pair
    wire.send_json(a, Kind.REGISTER, {"rank": 3, "host": "h"}, soon(), "b")
    assert wire.recv_json(b, Kind.REGISTER, soon(), "a") == {"rank": 3, "host": "h"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16])
@pytest.mark.parametrize("length", [0, 1, 1000])
def test_array_round_trip_fills_the_callers_buffer(pair, dtype, length):
    a, b = pair
    sent = (np.arange(length) * 3).astype(dtype)
    out = np.full(length, 7, dtype=dtype)
    wire.send_array(a, sent, soon(), "b", tag=9)
    wire.recv_into(b, out, soon(), "a", tag=9)
    np.testing.assert_array_equal(out, sent)


def test_bad_magic_is_a_frame_error(pair):
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(FrameError, match=r"not a dlcore.collective frame.*b'GET '"):
        wire.recv_frame(b, Kind.HELLO, soon(), "a stranger")


def test_other_wire_version_is_refused(pair):
    a, b = pair
    a.sendall(raw_header(version=wire.VERSION + 1))
    with pytest.raises(FrameError, match=rf"wire version {wire.VERSION + 1}.*same dlcore version"):
        wire.recv_frame(b, Kind.HELLO, soon(), "a")


def test_a_peer_from_before_the_codec_check_is_refused_at_its_first_frame(pair):
    """Review 49: version-2 peers leave the ring headers' codec field 0 and ignore it. Had
    the version stayed 2, a v2 rank passing fp16 next to a v3 rank passing bf16 summed
    bf16 bytes as fp16 without an error (the v2 receiver), and v3 receivers told ranks
    that all passed fp16 that a peer sent "None". Different versions now refuse each
    other at the first frame (the handshake)."""
    a, b = pair
    a.sendall(raw_header(version=2))
    with pytest.raises(FrameError, match=r"speaks wire version 2, this process speaks 3"):
        wire.recv_frame(b, Kind.HELLO, soon(), "a")


def test_unknown_kind_is_refused(pair):
    a, b = pair
    a.sendall(wire.HEADER.pack(wire.MAGIC, wire.VERSION, 250, 0, 0, 0))
    with pytest.raises(FrameError, match="unknown kind 250"):
        wire.recv_frame(b, Kind.HELLO, soon(), "a")


def test_unexpected_kind_is_refused(pair):
    a, b = pair
    wire.send_frame(a, Kind.PEERS, b"{}", soon(), "b")
    with pytest.raises(FrameError, match="sent a PEERS frame while we waited for a HELLO"):
        wire.recv_frame(b, Kind.HELLO, soon(), "a")


def test_oversized_control_frame_is_refused_before_reading_it(pair):
    a, b = pair
    a.sendall(raw_header(length=wire.MAX_CONTROL_FRAME + 1))  # no payload follows
    with pytest.raises(FrameError, match=r"over the limit of 65536 bytes"):
        wire.recv_frame(b, Kind.HELLO, soon(), "a")


def test_oversized_tensor_frame_is_refused(pair):
    a, b = pair
    a.sendall(raw_header(kind=Kind.TENSOR, length=wire.MAX_TENSOR_FRAME + 1))
    with pytest.raises(FrameError, match="over the limit"):
        wire.recv_into(b, np.zeros(4, np.float32), soon(), "a")


def test_sending_an_oversized_control_frame_is_refused(pair):
    a, _ = pair
    with pytest.raises(FrameError, match="limited to 65536 bytes"):
        wire.send_frame(a, Kind.HELLO, b"x" * (wire.MAX_CONTROL_FRAME + 1), soon(), "b")


def test_tensor_length_mismatch_is_refused(pair):
    a, b = pair
    wire.send_array(a, np.zeros(3, np.float32), soon(), "b")
    with pytest.raises(FrameError, match=r"sent 12 bytes while we expected 16.*same length"):
        wire.recv_into(b, np.zeros(4, np.float32), soon(), "a")


def test_tensor_tag_mismatch_is_refused(pair):
    a, b = pair
    wire.send_array(a, np.zeros(2, np.float32), soon(), "b", tag=4)
    with pytest.raises(FrameError, match="tag 4 while we waited for tag 5.*out of step"):
        wire.recv_into(b, np.zeros(2, np.float32), soon(), "a", tag=5)


def test_malformed_json_is_a_frame_error(pair):
    a, b = pair
    wire.send_frame(a, Kind.REGISTER, b"{not json", soon(), "b")
    with pytest.raises(FrameError, match="not valid JSON"):
        wire.recv_json(b, Kind.REGISTER, soon(), "a")


def test_peer_closing_mid_frame_is_a_communication_error(pair):
    a, b = pair
    a.sendall(raw_header(kind=Kind.TENSOR, length=16) + b"\0" * 5)
    a.close()
    with pytest.raises(CommunicationError, match=r"closed the connection.*5 of 16 bytes") as info:
        wire.recv_into(b, np.zeros(4, np.float32), soon(), "rank 1")
    assert not isinstance(info.value, FrameError | PeerTimeoutError)


def test_silent_peer_times_out_naming_what_and_whom(pair):
    _, b = pair
    with pytest.raises(PeerTimeoutError, match=r"deadline of 0.05 s .* a HELLO frame from rank 7"):
        wire.recv_frame(b, Kind.HELLO, Deadline.after(0.05), "rank 7")


def test_an_expired_deadline_fails_before_any_io(pair):
    a, _ = pair
    with pytest.raises(PeerTimeoutError, match="room to send"):
        wire.send_frame(a, Kind.HELLO, b"", Deadline.after(-1.0), "b")


@pytest.mark.parametrize(
    ("kind", "error"), [(Kind.REFUSED, AuthenticationError), (Kind.ERROR, CommunicationError)]
)
def test_peer_error_frames_are_raised_with_their_message(pair, kind, error):
    a, b = pair
    wire.send_frame(a, kind, b"rank 2 is already registered", soon(), "b")
    with pytest.raises(error, match="server refused: rank 2 is already registered"):
        wire.recv_frame(b, Kind.PEERS, soon(), "server")


def test_non_contiguous_arrays_are_refused(pair):
    a, _ = pair
    with pytest.raises(ShapeError, match="C-contiguous"):
        wire.send_array(a, np.zeros(10, np.float32)[::2], soon(), "b")


def test_tcp_sockets_get_nodelay_and_big_buffers():
    listener = wire.open_listener("127.0.0.1")
    try:
        client = wire.connect(listener.getsockname(), soon(), "a test", 1 << 20)
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert client.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 1 << 20
        client.close()
    finally:
        listener.close()


def test_connecting_to_nobody_is_a_communication_error():
    listener = wire.open_listener("127.0.0.1")
    address = listener.getsockname()
    listener.close()
    with pytest.raises(CommunicationError, match="cannot connect to 127.0.0.1"):
        wire.connect(address, soon(), "a test", 1 << 16)


def test_header_layout_is_fixed():
    # magic, version, kind, codec, tag, length in network order: 20 bytes.
    assert wire.HEADER.size == 20
    assert wire.pack_header(Kind.TENSOR, 5, tag=2) == struct.pack(
        "!4sBBHIQ", b"DLCW", 3, 20, 0, 2, 5
    )
    assert wire.pack_header(Kind.REDUCE, 5, tag=2, codec=1)[6:8] == b"\x00\x01"


def test_array_frames_end_with_the_crc32_of_their_bytes(pair):
    a, b = pair
    sent = np.arange(5, dtype=np.float32)
    wire.send_array(a, sent, soon(), "b", tag=3)
    raw = bytearray(wire.HEADER.size + sent.nbytes + wire.TRAILER.size)
    wire.recv_exact(b, memoryview(raw), soon(), "the frame", "a")
    assert raw[wire.HEADER.size : -4] == sent.tobytes()
    assert raw[-4:] == struct.pack("!I", zlib.crc32(sent.tobytes()))


@pytest.mark.parametrize("where", [0, 7, 19])
def test_a_flipped_payload_byte_is_a_frame_error_naming_the_peer(pair, where):
    a, b = pair
    payload = bytearray(np.ones(5, np.float32).tobytes())
    check = struct.pack("!I", zlib.crc32(payload))
    payload[where] ^= 0x01
    a.sendall(raw_header(kind=Kind.TENSOR, length=len(payload)) + payload + check)
    with pytest.raises(FrameError, match=r"^rank 7 sent a TENSOR frame of 20 bytes whose bytes"):
        wire.recv_into(b, np.zeros(5, np.float32), soon(), "rank 7")


def test_a_corrupted_trailer_is_a_frame_error(pair):
    a, b = pair
    payload = np.ones(5, np.float32).tobytes()
    check = struct.pack("!I", zlib.crc32(payload) ^ 1)
    a.sendall(raw_header(kind=Kind.TENSOR, length=len(payload)) + payload + check)
    with pytest.raises(FrameError, match=r"do not match its CRC-32 \(sent [0-9a-f]{8}, computed"):
        wire.recv_into(b, np.zeros(5, np.float32), soon(), "rank 7")
