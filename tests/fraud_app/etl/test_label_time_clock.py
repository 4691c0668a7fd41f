"""A label_time of day resolution written as midnight timestamps (probe54a): a chargeback
system that keeps the day a label arrived and exports it as `2024-03-05 00:00:00` says
the label was known up to a day before it was. The ETL published it without a word: the
card's earlier transactions of that day counted the fraud in their fraud-rate features
(a leak), and a fraud of that same day was quarantined as `label_time_before_timestamp`.
Now the report records `label_time_resolution` and such a clock is named in a WARNING
with the settings that read the day as its end (as a date alone has been since
review51c)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

pytestmark = pytest.mark.spark


def _csv(label_time: str) -> str:
    lines = ["transaction_id,card_id,timestamp,amount,label,label_time"]
    # a fraud whose label arrived on the same day it happened, after it
    lines.append(f"s1,c1,2024-03-05 10:00:00,1.5,1,{label_time.format(day=5)}")
    for i in range(24):  # frauds of 03-01..03-04 labelled on 03-06..03-08
        lines.append(
            f"t{i},c{i % 3},2024-03-0{1 + i % 4} {i % 24:02d}:{i:02d}:07,1.5,1,"
            f"{label_time.format(day=6 + i % 3)}"
        )
    return "\n".join(lines) + "\n"


def test_labels_stamped_at_midnight_are_named(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": _csv("2024-03-0{day} 00:00:00")})
    assert_accounted(spark, result, 25)
    assert result.quarantine_by_reason == {"label_time_before_timestamp": 1}
    assert result.label_time_resolution == "day"
    (line,) = [r.getMessage() for r in caplog.records if "label_time values" in r.getMessage()]
    assert line.startswith(
        "ETL: every one of the 24 label_time values published is a whole day UTC, 24 of them "
        "written as the day's midnight (00:00:00)"
    )
    assert "quarantined as label_time_before_timestamp (1 row(s) this run)" in line
    assert "etl.label_time_format: \"yyyy-MM-dd' 00:00:00'\"" in line


def test_the_setting_named_reads_each_day_as_its_end(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": _csv("2024-03-0{day} 00:00:00")},
                      label_time_format="yyyy-MM-dd' 00:00:00'")  # fmt: skip
    assert_accounted(spark, result, 25)
    assert result.quarantine_rows == 0 and result.label_time_resolution == "day"
    assert not [r for r in caplog.records if "label_time values" in r.getMessage()]
    end = dt.datetime(2024, 3, 5, 23, 59, 59, 999999)
    assert _rows(spark, result)["s1"]["label_time"] == end


def test_a_label_clock_of_seconds_is_recorded_without_a_word(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": _csv("2024-03-0{day} 11:12:13")})
    assert result.quarantine_rows == 0 and result.label_time_resolution == "second"
    assert not [r for r in caplog.records if "label_time values" in r.getMessage()]
