"""Every date is a UTC date: a session in another zone is set to UTC, so a transaction
near midnight lands in the same date in ETL and in the score's window."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.pipeline import run_etl
from fraud_app.scoring.history import history_rows
from fraud_app.spark.session import SESSION_TIME_ZONE, get_spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label"


@pytest.mark.spark
def test_a_session_in_another_zone_is_set_to_utc_and_late_rows_keep_their_date(
    spark, tmp_path, caplog
):
    # Under America/New_York, ETL's to_date put 21:00 New York (02:00 UTC the next day) in
    # the New York date's partition, and score's window of that date ends at UTC midnight:
    # no date's score held the transaction.
    src = tmp_path / "in.csv"
    src.write_text(HEADER + "\nt1,c1,m1,2024-01-01T21:00:00-05:00,5,0\n")
    cfg = load_config(None, {"paths.root": str(tmp_path / "w"), "etl.input": str(src)})
    spark.conf.set(SESSION_TIME_ZONE, "America/New_York")  # e.g. a cluster's spark-defaults
    try:
        with caplog.at_level("WARNING", logger="fraud_app.spark.session"):
            session = get_spark("local[2]")
        assert session is spark and spark.conf.get(SESSION_TIME_ZONE) == "UTC"
        assert "Spark session time zone America/New_York -> UTC" in caplog.text
        run_etl(session, cfg)
    finally:
        spark.conf.set(SESSION_TIME_ZONE, "UTC")
    canonical = spark.read.parquet(cfg.canonical_table())
    (row,) = canonical.collect()
    assert str(row.event_date) == "2024-01-02"
    found = [
        day
        for day in (dt.date(2024, 1, 1), dt.date(2024, 1, 2))
        if history_rows(canonical, day, day, None).where(f"event_date = '{day}'").count()
    ]
    assert found == [dt.date(2024, 1, 2)]


def test_a_configured_zone_other_than_utc_is_refused():
    with pytest.raises(ConfigError, match=r"'spark.sql.session.timeZone' must be UTC \(received "):
        load_config(None, {"spark.conf": {SESSION_TIME_ZONE: "Europe/Berlin"}})
    assert load_config(None, {"spark.conf": {SESSION_TIME_ZONE: "UTC"}}).spark.conf
