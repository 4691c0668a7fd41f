"""fraud_app.schema.partition_value: the one rule for reading a table's date folders (the
ETL's Hadoop listings and the score command's local pre-flight had one each)."""

from __future__ import annotations

import pytest

from fraud_app.schema import partition_value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("event_date=2024-01-31", "2024-01-31"),
        ("event_date=", ""),
        ("event_date=a=b", "a=b"),
        ("_SUCCESS", None),
        (".event_date=2024-01-31.crc", None),
        ("other=2024-01-31", None),
        ("event_date", None),
        ("EVENT_DATE=2024-01-31", None),
        ("part-00000-x.parquet", None),
    ],
)
def test_partition_value_reads_only_event_date_folders(name, value):
    assert partition_value(name) == value
