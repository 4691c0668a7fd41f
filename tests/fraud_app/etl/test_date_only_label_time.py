"""A label_time written as a date alone (a chargeback dated `2024-01-05`) is read as the
END of that day, on etl.time_zone's clock: the label was known at some time that day, so
its midnight made it known up to a day early to every feature reading it, and a label
dated the transaction's own day (10:00) came before it and was quarantined as
`label_time_before_timestamp` (review51c; probe51c left it open). A timestamp written as a
date stays its midnight; a label_time with a time of day is read as written."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from fraud_app.etl import parsing
from fraud_app.etl.report_readings import check_label_time_reading
from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

HEADER = "transaction_id,card_id,timestamp,amount,label,label_time"


@pytest.mark.spark
def test_a_date_only_label_time_is_the_end_of_its_day(spark, tmp_path) -> None:
    lines = [
        "t1,c1,2024-01-05 10:00:00,1.5,1,2024-01-05",  # the same day: was quarantined
        "t2,c1,2024-01-05 10:00:00,1.5,1,2024-01-07",  # was 2024-01-07 00:00, a day early
        "t3,c1,2024-01-05 10:00:00,1.5,1,2024-01-06T08:00:00",  # a time: as written
        "t4,c1,2024-01-05,1.5,1,2024-01-08",  # a date-only timestamp stays midnight
    ]
    files = {"a.csv": "\n".join([HEADER, *lines]) + "\n"}
    result = _run(spark, tmp_path, files)
    assert_accounted(spark, result, 4)
    rows = _rows(spark, result)
    end = dt.time(23, 59, 59, 999999)
    assert {k: (r["timestamp"], r["label_time"]) for k, r in rows.items()} == {
        "t1": (dt.datetime(2024, 1, 5, 10), dt.datetime.combine(dt.date(2024, 1, 5), end)),
        "t2": (dt.datetime(2024, 1, 5, 10), dt.datetime.combine(dt.date(2024, 1, 7), end)),
        "t3": (dt.datetime(2024, 1, 5, 10), dt.datetime(2024, 1, 6, 8)),
        "t4": (dt.datetime(2024, 1, 5), dt.datetime.combine(dt.date(2024, 1, 8), end)),
    }
    assert result.label_time_reading == parsing.LABEL_TIME_READING == "day_clock_end_of_day"
    # on etl.time_zone's clock: New York's 2024-01-05 ends at 2024-01-06 04:59:59.999999 UTC
    result = _run(spark, tmp_path / "ny", files, time_zone="America/New_York")
    assert_accounted(spark, result, 4)
    rows = _rows(spark, result)
    assert rows["t1"]["label_time"] == dt.datetime(2024, 1, 6, 4, 59, 59, 999999)
    assert rows["t1"]["timestamp"] == dt.datetime(2024, 1, 5, 15)
    assert rows["t4"]["timestamp"] == dt.datetime(2024, 1, 5, 5)


@pytest.mark.parametrize(
    "fmt, only",
    [
        ("yyyy-MM-dd", True),
        ("dd/MM/yyyy", True),
        ("yyyyMMdd", True),
        ("yyyy-MM-dd'T'HH:mm:ss", False),
        ("dd.MM.yyyy hh:mm a", False),
        ("yyyy-MM-dd 'at' HH", False),
        ("epoch_seconds", False),
    ],
)
def test_which_patterns_are_dates_alone(fmt, only) -> None:
    from pyspark.sql import types as T

    assert parsing.date_only(T.StringType(), fmt, None) is only


def test_an_append_onto_a_table_read_with_midnight_dates_is_named(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        check_label_time_reading({"amount_reading": {}}, "/t/canonical")  # before review51c
    assert "read such dates as their midnight (date_only_midnight)" in caplog.text
    assert "Rebuild the table (etl.mode: replace" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_label_time_reading({"label_time_reading": "date_only_end_of_day"}, "/t/c")
        check_label_time_reading({"label_time_reading": "day_clock_end_of_day"}, "/t/c", 3)
    assert not caplog.text
    # review54a: a table of review51c's reading kept a clock of days' midnights as written
    with caplog.at_level(logging.WARNING):
        check_label_time_reading({"label_time_reading": "date_only_end_of_day"}, "/t/c", 3)
    assert (
        "a clock of days written as midnights (3 value(s)), as the END of each day" in caplog.text
    )
    assert "read such midnights as written (date_only_end_of_day)" in caplog.text
