"""A validation leaves the session's cache as it found it. GX's Spark data source cached the
validated DataFrame and never uncached it: the table stayed cached for the rest of the
session, and a later read of the same table got the cached rows. `validate`, then
`etl --mode append` of a day, then `features` in one session (a notebook, the date-scaling
bench) built no features for the appended day: `0 date(s) rewritten`, and the table's
record said it was up to date (docs/PROBES.md, session 39, helper backfill39)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark import StorageLevel

from fraud_app.config import load_config
from fraud_app.etl.table_read import read_table
from fraud_app.validation.validate import validate_canonical
from tests.fraud_app.features.day_deliveries import deliver

pytestmark = pytest.mark.spark


def _validate(spark, root: Path, df) -> None:
    config = load_config(None, {"paths.root": str(root), "validation.fail_on_error": False})
    validate_canonical(spark, df, config, run_name="v")


def test_a_table_validated_then_appended_to_reads_with_the_new_day(spark, tmp_path) -> None:
    root = tmp_path / "work"
    deliver(spark, root, tmp_path / "d1", [1, 2, 3], "replace")
    table = str(root / "canonical")
    df = read_table(spark, table, "validate: canonical table", "etl", None)
    _validate(spark, root, df)
    assert df.storageLevel == StorageLevel.NONE  # was MEMORY_AND_DISK_DESER, never uncached
    deliver(spark, root, tmp_path / "d4", [4], "append")
    again = spark.read.parquet(table)
    # base: 90 rows and no 2024-03-04 (the cached rows of the validated read)
    assert again.count() == 120
    assert again.where("event_date = DATE'2024-03-04'").count() == 30


def test_a_dataframe_the_caller_cached_stays_cached(spark, tmp_path) -> None:
    root = tmp_path / "work"
    deliver(spark, root, tmp_path / "d1", [1, 2], "replace")
    df = read_table(spark, str(root / "canonical"), "validate", "etl", None).persist()
    try:
        _validate(spark, root, df)
        assert df.storageLevel != StorageLevel.NONE
    finally:
        df.unpersist()
