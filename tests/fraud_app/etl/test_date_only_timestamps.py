"""An export of dates, not times: every timestamp at midnight (session 40).

A Parquet `date` column or text `2025-09-01` mapped as the timestamp was published at
midnight without a word (data40: 4,000 rows), though each day's rows then sit at one
instant and every feature of a window under a day, of the time since the previous
transaction, of velocity and of the hour of day carries little or nothing. One WARNING
now says so and the ETL report records `date_only_timestamps`; one row at midnight among
timed rows, or a single row, is not such an input. On etl.time_zone's clock when set."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from tests.fraud_app.etl.test_hostile_inputs import _run, assert_accounted

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label\n"
LOGGER = "fraud_app.etl.local_times"


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "dates, not times" in r.getMessage()]  # fmt: skip


def _report(result) -> dict:
    return json.loads(Path(result.report_path).read_text())


def test_text_dates_are_named_and_recorded(spark, tmp_path, caplog) -> None:
    csv = HEADER + "t1,c1,2025-09-01,10,0\nt2,c2,2025-09-01,12,0\nt3,c1,2025-09-02,9,1\n"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = _run(spark, tmp_path, {"a.csv": csv})
    assert_accounted(spark, result, 3)
    assert result.date_only_timestamps is True
    assert _report(result)["date_only_timestamps"] is True
    (line,) = _warnings(caplog)
    assert "every one of the 3 timestamps" in line and "00:00:00 UTC" in line
    assert "etl.columns.timestamp" in line and "hour of day" in line


def test_a_parquet_date_column_in_a_zone_is_named(spark, tmp_path, caplog) -> None:
    frame = pd.DataFrame({
        "transaction_id": ["t1", "t2"], "card_id": ["c1", "c2"],
        "timestamp": [dt.date(2025, 9, 1), dt.date(2025, 9, 2)], "amount": [5.0, 7.0],
        "label": [0, 1],
    })  # fmt: skip
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = _run(spark, tmp_path, {"a.parquet": frame}, time_zone="Europe/Berlin")
    assert result.output_rows == 2 and result.date_only_timestamps is True
    (line,) = _warnings(caplog)
    assert "in Europe/Berlin (etl.time_zone)" in line


@pytest.mark.parametrize(
    "rows",
    [
        "t1,c1,2025-09-01 00:00:00,10,0\nt2,c2,2025-09-01 13:45:10,12,0\n",  # one at midnight
        "t1,c1,2025-09-01,10,0\n",  # a single row
        "t1,c1,2025-09-01 00:00:00.250,1,0\nt2,c1,2025-09-02 00:00:00,1,0\n",  # a fraction
    ],
    ids=["timed", "single", "fraction"],
)
def test_times_are_not_named(spark, tmp_path, caplog, rows) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        result = _run(spark, tmp_path, {"a.csv": HEADER + rows})
    assert result.date_only_timestamps is False and not _warnings(caplog)
