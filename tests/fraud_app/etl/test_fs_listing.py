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
