"""Group-boundary reports over real authenticated sockets (no Spark needed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import struct
import time

import numpy as np
import pytest

from dlcore.collective import new_job_secret
from dlcore.errors import AuthenticationError, FrameError
from fraud_app.spark import boundary
from fraud_app.spark.boundary import (
    BoundaryReporter,
    BoundaryServer,
    decode_report,
    encode_report,
    report_key,
)

SECRET = new_job_secret()
KEY = report_key(SECRET)


def _events(q: queue.SimpleQueue, count: int, timeout: float = 10.0) -> list[tuple[str, object]]:
    out, end = [], time.monotonic() + timeout
    while len(out) < count:
        out.append(q.get(timeout=max(0.01, end - time.monotonic())))
    return out


def _reporter(
    server: BoundaryServer, rank: int, round_id: int, secret: bytes = SECRET
) -> BoundaryReporter:
    return BoundaryReporter(
        server.address, secret, rank=rank, world_size=2, round_id=round_id, timeout=5.0
    )


def test_reports_arrive_in_order_with_their_arrays():
    params = np.arange(7, dtype=np.float32)
    with BoundaryServer(SECRET, 2, host="127.0.0.1") as server:
        events = server.open_round(3, report_timeout=5.0)
        with _reporter(server, 0, 3) as r0, _reporter(server, 1, 3) as r1:
            r0.send(
                4, {"loss_sum": 1.5, "position": [0, 8]}, {"params": params, "opt/m": params * 2}
            )
            r1.send(4, {"loss_sum": 2.5}, {"opt/m": np.ones(3, np.float64), "steps": np.array([5])})
            r0.send(5, {"loss_sum": 0.5}, {})
        got = _events(events, 7)
    reports = [p for kind, p in got if kind == "report"]
    assert sorted(p for kind, p in got if kind == "connected") == [0, 1]
    assert sorted(p for kind, p in got if kind == "closed") == [0, 1]
    assert [(r.rank, r.group) for r in reports if r.rank == 0] == [(0, 4), (0, 5)]
    first = next(r for r in reports if (r.rank, r.group) == (0, 4))
    assert first.meta["position"] == [0, 8] and first.meta["loss_sum"] == 1.5
    np.testing.assert_array_equal(first.arrays["params"], params)
    assert first.arrays["opt/m"].dtype == np.float32
    other = next(r for r in reports if r.rank == 1)
    assert other.arrays["opt/m"].dtype == np.float64 and other.arrays["steps"].tolist() == [5]


def test_wrong_secret_and_stale_round_are_refused():
    with BoundaryServer(SECRET, 2, host="127.0.0.1") as server:
        events = server.open_round(2, report_timeout=5.0)
        with pytest.raises(AuthenticationError, match="wrong job secret"):
            _reporter(server, 0, 2, secret=new_job_secret())
        with pytest.raises(AuthenticationError, match="round 1 is not the current round 2"):
            _reporter(server, 0, 1)
        with pytest.raises(AuthenticationError, match=r"rank 7 is outside \[0, 2\)"):
            BoundaryReporter(server.address, SECRET, rank=7, world_size=2, round_id=2, timeout=5.0)
        with pytest.raises(queue.Empty):
            events.get(timeout=0.2)
        with _reporter(server, 1, 2):
            assert _events(events, 1) == [("connected", 1)]
            with pytest.raises(AuthenticationError, match="rank 1 already reports in round 2"):
                _reporter(server, 1, 2)


def test_a_silent_reporter_hits_the_report_deadline():
    with BoundaryServer(SECRET, 2, host="127.0.0.1") as server:
        events = server.open_round(1, report_timeout=0.3)
        with _reporter(server, 1, 1):
            got = _events(events, 2, timeout=5.0)
    assert got[0] == ("connected", 1)
    kind, (rank, message) = got[1]
    assert (kind, rank) == ("error", 1) and "rank 1" in message and "next group report" in message


def _payload(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("!I", len(raw)) + raw + data


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\x00\x01", "too short for a header"),
        (struct.pack("!I", 99) + b"{}", "header length 99 exceeds the payload"),
        (_payload({"meta": {}}), "malformed header"),
        (_payload({"meta": [], "arrays": []}), "without meta object"),
        (
            _payload(
                {
                    "meta": {},
                    "arrays": [{"name": "x", "dtype": "object", "shape": [1], "offset": 0}],
                }
            ),
            "malformed array entry",
        ),
        (
            _payload(
                {
                    "meta": {},
                    "arrays": [{"name": "x", "dtype": "float32", "shape": [4], "offset": 0}],
                },
                b"\0" * 8,
            ),
            "does not fit the 8 data bytes",
        ),
        (
            _payload(
                {
                    "meta": {},
                    "arrays": [{"name": "x", "dtype": "float32", "shape": [1], "offset": 4}],
                },
                b"\0" * 8,
            ),
            "does not fit",
        ),
        (_payload({"meta": {}, "arrays": []}, b"\0" * 3), "3 unexplained bytes"),
        (
            _payload(
                {
                    "meta": {},
                    "arrays": [
                        {"name": "x", "dtype": "int64", "shape": [2**32, 2**32], "offset": 0}
                    ],
                },
                b"\0" * 8,
            ),
            "does not fit",
        ),
    ],
)
def test_malformed_reports_are_refused_with_the_reason(payload, match):
    with pytest.raises(FrameError, match=match):  # signed: the checks behind the MAC
        decode_report(payload + hmac.new(KEY, payload, hashlib.sha256).digest(), "rank 0", KEY)


def test_encoding_refuses_arrays_that_need_pickle():
    with pytest.raises(FrameError, match="dtype object"):
        encode_report({}, {"x": np.array([{"a": 1}], dtype=object)}, KEY)


def test_round_trip_of_empty_and_scalar_arrays():
    parts = encode_report(
        {"k": 1}, {"empty": np.zeros(0, np.float32), "scalar": np.float64(2.5) * np.ones(())}, KEY
    )
    meta, arrays = decode_report(b"".join(bytes(p) for p in parts), "rank 0", KEY)
    assert meta == {"k": 1} and arrays["empty"].shape == (0,) and float(arrays["scalar"]) == 2.5


def test_infinite_shape_is_a_frame_error():
    raw = b'{"meta":{},"arrays":[{"name":"x","dtype":"float32","shape":[Infinity],"offset":0}]}'
    payload = struct.pack("!I", len(raw)) + raw
    with pytest.raises(FrameError, match="malformed array entry"):
        decode_report(payload + hmac.new(KEY, payload, hashlib.sha256).digest(), "rank 0", KEY)


def test_readers_stop_at_the_backlog_cap_until_the_driver_consumes(monkeypatch):
    monkeypatch.setattr(boundary, "MAX_BACKLOG_GROUPS", 1)  # 1 group = 2 reports for 2 ranks
    with BoundaryServer(SECRET, 2, host="127.0.0.1") as server:
        events = server.open_round(1, report_timeout=10.0)
        with _reporter(server, 0, 1) as r0:
            for group in range(4):
                r0.send(group, {}, {"x": np.zeros(3, np.float32)})
            got = _events(events, 3)  # connected + the 2 reports the cap allows
            with pytest.raises(queue.Empty):
                events.get(timeout=0.3)
            server.report_consumed()
            server.report_consumed()
            got += _events(events, 2)
    assert [p.group for kind, p in got if kind == "report"] == [0, 1, 2, 3]


HMAC_FAILS = "fails its HMAC \\(job secret\\): it was corrupted in transit or not sent by"


def test_a_flipped_bit_anywhere_in_a_report_is_refused():
    """The weights the driver commits, checkpoints and returns came from these bytes: a
    flipped bit in an array was committed as received."""
    parts = encode_report(
        {"loss_sum": 0.5}, {"params": np.linspace(-1, 1, 9, dtype=np.float32)}, KEY
    )
    good = b"".join(bytes(p) for p in parts)
    assert decode_report(good, "rank 0", KEY)[0] == {"loss_sum": 0.5}
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= 1 << (i % 8)
        with pytest.raises(FrameError, match=HMAC_FAILS):
            decode_report(bad, "rank 0", KEY)
    with pytest.raises(FrameError, match=HMAC_FAILS):  # truncated
        decode_report(good[:-1], "rank 0", KEY)
    with pytest.raises(FrameError, match=HMAC_FAILS):  # another job's worker
        decode_report(good, "rank 0", report_key(new_job_secret()))


def test_a_report_corrupted_on_the_wire_is_a_reader_error(monkeypatch):
    """Real sockets: the reporter's bytes are damaged after they were signed (as a bad
    NIC, driver or middlebox would); the driver's reader refuses them, naming the rank."""
    real = boundary.encode_report

    def damaged(meta, arrays, key):
        parts = real(meta, arrays, key)
        params = bytearray(bytes(parts[1]))
        params[3] ^= 0x10
        return [parts[0], bytes(params), *parts[2:]]

    with BoundaryServer(SECRET, 2, host="127.0.0.1") as server:
        events = server.open_round(1, report_timeout=5.0)
        with _reporter(server, 1, 1) as r1:
            monkeypatch.setattr(boundary, "encode_report", damaged)
            r1.send(0, {"loss_sum": 0.5}, {"params": np.arange(4, dtype=np.float32)})
            got = _events(events, 2, timeout=10.0)
    assert got[0] == ("connected", 1)
    kind, (rank, message) = got[1]
    assert (kind, rank) == ("error", 1) and "rank 1" in message, message
    assert "fails its HMAC" in message, message


def test_a_closed_round_ends_its_readers_waiting_for_backlog_room(monkeypatch):
    """A reader blocked on a full backlog waited out the report deadline (minutes) after
    its round was closed (a cancelled, interrupted or retried stage): one thread per rank
    left behind each time (session 24: 5 after two interrupted fits in a notebook)."""
    import threading

    monkeypatch.setattr(boundary, "MAX_BACKLOG_GROUPS", 1)  # 2 reports for 2 ranks
    with BoundaryServer(SECRET, 2, host="127.0.0.1") as server:
        events = server.open_round(1, report_timeout=60.0)
        with _reporter(server, 0, 1) as r0:
            for group in range(5):
                r0.send(group, {}, {"x": np.zeros(3, np.float32)})
            _events(events, 3)  # connected + the 2 reports the cap allows; the reader waits
            readers = [t for t in threading.enumerate() if "_run_handler" in t.name]
            assert readers
            server.close_round()
            for t in readers:
                t.join(timeout=5.0)
            assert not any(t.is_alive() for t in readers)  # were alive until the 60 s deadline
            server.open_round(2, report_timeout=60.0)  # the next round starts clean
