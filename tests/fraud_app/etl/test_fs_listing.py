"""fraud_app.etl.fs_listing without Spark: the glob escaping and the refusal of bytes that
are no FileStatus array (then HadoopFs reads the listing entry by entry)."""

from __future__ import annotations

import pytest

from fraud_app.etl.fs_listing import ListingFormatError, decode_statuses, glob_literal, hidden


def test_glob_characters_are_escaped() -> None:
    assert glob_literal("/a/b[1]{x,y}*?\\") == "/a/b\\[1\\]\\{x,y\\}\\*\\?\\\\"
    assert glob_literal("hdfs://nn:8020/t/event_date=2024-01-01") == (
        "hdfs://nn:8020/t/event_date=2024-01-01")  # fmt: skip


@pytest.mark.parametrize("data", [b"", b"\x00\x03abc", b"\x00\x22[Lorg.apache.hadoop.fs.FileStatus;"
                                  b"\x00\x00\x00\x01\x00"])  # fmt: skip
def test_bytes_that_are_no_status_array_are_refused(data: bytes) -> None:
    with pytest.raises(ListingFormatError):
        decode_statuses(data)


def test_hidden_names_are_the_ones_spark_skips() -> None:
    assert [hidden(n) for n in ("_SUCCESS", ".crc", "a._COPYING_", "part-0", "event_date=x")] == [
        True, True, True, False, False]  # fmt: skip


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _proto(path: bytes, kind=2, length=3, mtime=5) -> bytes:
    """A FileStatusProto: path (2), file type (1), length (3), modification time (7)."""
    out = b"\x12" + _varint(len(path)) + path
    out += (b"\x08" + _varint(kind)) if isinstance(kind, int) else (b"\x0a\x01" + kind)
    return out + b"\x18" + _varint(length % 2**64) + b"\x38" + _varint(mtime % 2**64)


def _array(*protos: bytes, declared: bytes = b"org.apache.hadoop.fs.FileStatus") -> bytes:
    def utf8(s: bytes) -> bytes:
        return len(s).to_bytes(2, "big") + s

    out = utf8(b"[Lorg.apache.hadoop.fs.FileStatus;") + len(protos).to_bytes(4, "big")
    for proto in protos:
        out += utf8(declared) + utf8(b"org.apache.hadoop.fs.LocatedFileStatus")
        out += len(proto).to_bytes(4, "big") + proto
    return out


def test_sizes_and_times_are_java_longs() -> None:
    """uint64 on the wire: a time before 1970 (-1001 ms) was read as 2**64 - 1001."""
    got = decode_statuses(_array(_proto("file:/t/é €.parquet".encode(), length=3 * 2**31,
                                        mtime=-1001)))  # fmt: skip
    assert [tuple(e) for e in got] == [("file:/t/é €.parquet", False, 3 * 2**31, -1001)]


@pytest.mark.parametrize(
    "data",
    [
        _array(_proto(b"file:/t/\xff.parquet")),  # not UTF-8: was UnicodeDecodeError
        _array(_proto(b"file:/t/a", kind=b"x")),  # a file type that is no number
        _array(_proto(b"file:/t/a", kind=7)),  # no FileStatusProto file type
        _array(_proto(b"file:/t/a"), declared=b"org.apache.hadoop.io.Writable"),  # null
        _array(_proto(b"")),  # no path
    ],
    ids=["not-utf8", "type-bytes", "type-7", "null-element", "no-path"],
)
def test_any_decode_problem_is_a_listing_format_error(data: bytes) -> None:
    """So HadoopFs reads the listing entry by entry instead of raising or listing wrong."""
    with pytest.raises(ListingFormatError):
        decode_statuses(data)
