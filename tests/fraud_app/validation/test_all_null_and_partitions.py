"""Two silent passes of `validate` (helper probe49c, session 49).

A feature declared `nullable: true` that is null in EVERY row passed: no check looks at a
nullable column's nulls and a range check of no values passes; such a column carries no
information (a join that matched nothing, a window never filled), and a model trained on
it learns nothing from it. It now fails `<column>:not_all_null` at the column's severity
(an error unless its spec says warning). The canonical table's optional columns: one the
export does not have is published null, normal; one etl.columns maps that comes out null
in every row (a mapping to the wrong column, ids all read as "missing") gets a warning.

A row whose event_date is not the UTC date of its timestamp (a file moved into another
partition by hand, a table written by another tool) passed: every read of its day by
partition misses it. `event_date:matches_timestamp` is an error, computed in the same
aggregation as the day volumes (one Spark job for both)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ValidationFailedError
from fraud_app.validation.validate import validate_canonical, validate_features
from tests.fraud_app.validation.test_validation import CANONICAL_SCHEMA, _rows

FEATURES = "transaction_id string, card_count_24h double, days_since_last double, label int"


def _features_config(tmp_path: Path, **spec):
    columns = {"days_since_last": {"nullable": True, **spec}}
    return load_config(None, {"paths.root": str(tmp_path), "validation.features.columns": columns})


@pytest.mark.spark
def test_a_nullable_feature_null_in_every_row_fails(spark, tmp_path) -> None:
    rows = [(f"t{i}", 1.0 + i, None, 0) for i in range(6)]
    df = spark.createDataFrame(rows, FEATURES)
    with pytest.raises(ValidationFailedError) as info:
        validate_features(spark, df, _features_config(tmp_path))
    message = str(info.value)
    assert "days_since_last:not_all_null" in message
    assert "null in every row (6 rows)" in message
    assert "validation.features.columns.days_since_last (nullable, severity)" in message
    assert "card_count_24h" not in message  # the other checks pass
    # a spec may make it a warning; one value in one row passes
    report = validate_features(spark, df, _features_config(tmp_path, severity="warning"))
    assert report.success and [w.name for w in report.warnings] == ["days_since_last:not_all_null"]
    rows[4] = ("t4", 5.0, 3.5, 0)
    report = validate_features(spark, spark.createDataFrame(rows, FEATURES),
                               _features_config(tmp_path))  # fmt: skip
    assert report.success and not report.warnings
    [check] = [r for r in report.results if r.name == "days_since_last:not_all_null"]
    assert check.success


def _canonical_config(tmp_path: Path, columns: dict | None = None, fail: bool = True, **canonical):
    checks = {"reference_time": "2024-01-03T00:00:00", "label_rate_min": 0.01,
              "label_rate_max": 0.2, "min_day_volume_ratio": 0, **canonical}  # fmt: skip
    return load_config(
        None,
        {"paths.root": str(tmp_path), "etl.columns": columns or {},
         "validation": {"canonical": checks, "examples": 3, "fail_on_error": fail}},
    )  # fmt: skip


@pytest.mark.spark
def test_a_mapped_optional_column_null_in_every_row_is_a_warning(spark, tmp_path) -> None:
    rows = [(*r[:2], None, *r[3:]) for r in _rows()]  # merchant_id null everywhere
    df = spark.createDataFrame(rows, CANONICAL_SCHEMA)
    # not mapped (the export has no merchant column): published null, not checked; the
    # fixture's device_id and fraud_pattern are null everywhere too
    plain = validate_canonical(spark, df, _canonical_config(tmp_path))
    assert plain.success and not plain.warnings
    assert not [r for r in plain.results if r.name.endswith(":not_all_null")]
    mapped = _canonical_config(tmp_path, {"merchant_id": "merchant", "mcc": "mcc_code"})
    report = validate_canonical(spark, df, mapped)
    assert report.success
    assert [w.name for w in report.warnings] == ["merchant_id:not_all_null"]
    assert report.warnings[0].setting == "etl.columns.merchant_id"
    [mcc] = [r for r in report.results if r.name == "mcc:not_all_null"]
    assert mcc.success
    strict = _canonical_config(tmp_path, {"merchant_id": "merchant"},
                               severities={"merchant_id:not_all_null": "error"})  # fmt: skip
    with pytest.raises(ValidationFailedError, match="merchant_id:not_all_null"):
        validate_canonical(spark, df, strict)


def _partitioned(spark, tmp_path: Path) -> Path:
    """_rows() (2024-01-01 00:00 .. 01-02 15:00) written by event_date, one file per date."""
    from pyspark.sql import functions as F

    out = tmp_path / "canonical"
    df = spark.createDataFrame(_rows(), CANONICAL_SCHEMA)
    df.withColumn("event_date", F.to_date("timestamp")).coalesce(1).write.partitionBy(
        "event_date"
    ).parquet(str(out))
    return out


@pytest.mark.spark
def test_a_row_in_another_dates_partition_fails(spark, tmp_path) -> None:
    table = _partitioned(spark, tmp_path)
    cfg = _canonical_config(tmp_path)
    report = validate_canonical(spark, spark.read.parquet(str(table)), cfg, run_name="ok")
    [check] = [r for r in report.results if r.name == "event_date:matches_timestamp"]
    assert check.success and check.unexpected_count == 0
    # by hand: 2024-01-02's file (16 rows) moved into a partition of its own, 2024-01-05
    [moved] = (table / "event_date=2024-01-02").glob("*.parquet")
    (table / "event_date=2024-01-05").mkdir()
    shutil.move(moved, table / "event_date=2024-01-05" / moved.name)
    shutil.rmtree(table / "event_date=2024-01-02")
    with pytest.raises(ValidationFailedError) as info:
        validate_canonical(spark, spark.read.parquet(str(table)), cfg, run_name="moved")
    message = str(info.value)
    assert "event_date:matches_timestamp" in message
    assert ("16 row(s) in the partition of another date than their timestamp's: "
            "event_date 2024-01-05 (16)") in message  # fmt: skip
    assert "transaction_id=t024, event_date=2024-01-05, timestamp=2024-01-02 00:00:00" in message


@pytest.mark.spark
def test_the_check_reads_the_utc_date(spark, tmp_path, kolkata_process) -> None:
    """In a process whose zone is Asia/Kolkata (+5:30): the rows' event_date (Spark's UTC
    date of their timestamps) is not flagged, one set a day off is, and its example shows
    the timestamp in UTC (the fixture's naive 06:00 is Kolkata time here: 00:30 UTC)."""
    from pyspark.sql import functions as F

    df = spark.createDataFrame(_rows(), CANONICAL_SCHEMA).withColumn(
        "event_date",
        F.when(F.col("transaction_id") == "t030", F.lit(dt.date(2024, 1, 1))).otherwise(
            F.to_date("timestamp")
        ),
    )
    report = validate_canonical(spark, df, _canonical_config(tmp_path, fail=False))
    [check] = [r for r in report.results if r.name == "event_date:matches_timestamp"]
    assert not check.success and check.unexpected_count == 1
    assert check.examples == (
        {"transaction_id": "t030", "event_date": "2024-01-01", "timestamp": "2024-01-02 00:30:00"},
    )


@pytest.mark.spark
def test_the_feature_suite_checks_the_partition_dates_too(spark, tmp_path) -> None:
    """The feature table is partitioned by event_date as well (fraud_app.features.table)."""
    from pyspark.sql import functions as F

    rows = [(f"t{i}", 1.0 + i, 2.0, 0, dt.datetime(2024, 1, 1 + i, 12)) for i in range(6)]
    df = spark.createDataFrame(rows, FEATURES + ", timestamp timestamp")
    good = df.withColumn("event_date", F.to_date("timestamp"))
    report = validate_features(spark, good, _features_config(tmp_path))
    [check] = [r for r in report.results if r.name == "event_date:matches_timestamp"]
    assert report.success and check.success
    bad = good.withColumn(
        "event_date",
        F.when(F.col("transaction_id") == "t2", F.date_add("event_date", 1)).otherwise(
            F.col("event_date")
        ),
    )
    with pytest.raises(ValidationFailedError, match="event_date:matches_timestamp .*t2"):
        validate_features(spark, bad, _features_config(tmp_path))


@pytest.mark.spark
@pytest.mark.parametrize("suite", ["canonical", "features"])
def test_the_partition_check_compares_utc_dates_whatever_the_session_zone(
    spark, tmp_path, suite
) -> None:
    """A notebook's session set to America/New_York (UTC-5): a row at 02:00 UTC on
    2024-01-03 is in its UTC date's partition (what etl and features write). Spark's
    to_date reads the session's zone: it gave 2024-01-02 there, and the feature suite
    (whose step did not set the session to UTC, as the canonical one's does) failed
    `event_date:matches_timestamp` on a correct table (review49c)."""
    from pyspark.sql import functions as F

    rows = [(f"t{i}", 1.0 + i, 2.0, 0, dt.datetime(2024, 1, 1 + i, 2)) for i in range(4)]
    table = tmp_path / "features"
    df = spark.createDataFrame(rows, FEATURES + ", timestamp timestamp")
    df.withColumn("event_date", F.to_date("timestamp")).write.partitionBy("event_date").parquet(
        str(table)
    )
    zone = spark.conf.get("spark.sql.session.timeZone")
    assert zone in ("UTC", "Etc/UTC")  # the table above holds UTC dates
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        read = spark.read.parquet(str(table))
        if suite == "features":
            report = validate_features(spark, read, _features_config(tmp_path))
        else:
            canonical = spark.createDataFrame(_rows(), CANONICAL_SCHEMA)
            shifted = canonical.withColumn(  # 00:00 .. 15:00 UTC -> 02:00 .. 17:00 UTC
                "timestamp", F.col("timestamp") + F.expr("INTERVAL 2 HOURS")
            )
            path = tmp_path / "canonical"
            spark.conf.set("spark.sql.session.timeZone", "UTC")
            shifted.withColumn("event_date", F.to_date("timestamp")).write.partitionBy(
                "event_date"
            ).parquet(str(path))
            spark.conf.set("spark.sql.session.timeZone", "America/New_York")
            report = validate_canonical(
                spark, spark.read.parquet(str(path)), _canonical_config(tmp_path, fail=False)
            )
        [check] = [r for r in report.results if r.name == "event_date:matches_timestamp"]
        assert check.success, check.observed
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)


@pytest.mark.spark
def test_label_time_null_everywhere_is_delay_only_mode_not_a_warning(spark, tmp_path) -> None:
    """configs/demo.yaml maps label_time, and its documented delay-only mode
    (`generate.label_times: false`, like most real exports) writes no label_time column:
    published null in every row. `fraud-app validate` on it warned `label_time:not_all_null`
    on every run (review49c: 20 000 generated rows, the demo config); a table none of whose
    labels is known yet is the same. Both are states the app handles (labels known
    label_delay_days after the transaction), so label_time has no such check."""
    rows = [(*r[:6], None, *r[7:]) for r in _rows()]
    df = spark.createDataFrame(rows, CANONICAL_SCHEMA)
    cfg = _canonical_config(tmp_path, {"label_time": "label_ts", "merchant_id": "merchant"})
    report = validate_canonical(spark, df, cfg)
    assert report.success and not report.warnings
    names = {r.name for r in report.results}
    assert "merchant_id:not_all_null" in names and "label_time:not_all_null" not in names
