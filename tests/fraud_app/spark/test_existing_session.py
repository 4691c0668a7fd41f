"""get_spark in a notebook whose session already runs (its own, or a platform's): the
session is used as it is, and what the call asked for and does not get is named."""

from __future__ import annotations

import pytest

from fraud_app.spark.session import get_spark

pytestmark = pytest.mark.spark


def test_get_spark_names_the_master_and_settings_it_does_not_apply(spark, caplog):
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    asked = {
        "spark.sql.shuffle.partitions": "7",
        "spark.hadoop.fs.s3a.secret.key": "S3CRET",
        "spark.app.id": spark.sparkContext.applicationId,  # the same value: not named
    }
    with caplog.at_level("WARNING", logger="fraud_app.spark.session"):
        session = get_spark("local[1]", conf=asked)
    assert session is spark
    # the session is left as it was (it ran with 2 partitions, without a word)
    assert spark.conf.get("spark.sql.shuffle.partitions") == partitions
    (line,) = [r.getMessage() for r in caplog.records if "already running" in r.getMessage()]
    assert "master local[1] (the session runs on local[2])" in line
    assert f"spark.sql.shuffle.partitions=7 (the session: {partitions})" in line
    assert "spark.hadoop.fs.s3a.secret.key=*** (the session: unset)" in line
    assert "S3CRET" not in line and "spark.app.id" not in line
    assert "spark.conf.set(key, value)" in line


def test_get_spark_says_nothing_when_the_running_session_is_what_was_asked(spark, caplog):
    with caplog.at_level("WARNING", logger="fraud_app.spark.session"):
        get_spark("local[2]", conf={"spark.sql.shuffle.partitions": spark.conf.get(
            "spark.sql.shuffle.partitions")})  # fmt: skip
    assert "already running" not in caplog.text


def test_a_session_that_never_set_its_zone_is_judged_by_its_effective_zone(spark, caplog):
    # a notebook's own session has no spark.sql.session.timeZone of its own: its zone is
    # the JVM's. It was read as None: a WARNING `time zone None -> UTC` in a UTC JVM
    from fraud_app.spark.session import SESSION_TIME_ZONE, ensure_utc

    spark.conf.unset(SESSION_TIME_ZONE)
    try:
        effective = spark.conf.get(SESSION_TIME_ZONE)
        with caplog.at_level("WARNING", logger="fraud_app.spark.session"):
            ensure_utc(spark)
        assert "None" not in caplog.text
        if effective in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
            assert "time zone" not in caplog.text
        else:
            assert f"time zone {effective} -> UTC" in caplog.text
    finally:
        spark.conf.set(SESSION_TIME_ZONE, "UTC")
