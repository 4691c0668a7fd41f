"""The rows of the feature table whose label is not known yet, which train, tune and
backtest leave out and count in their log (fraud_app.features.table.labelled_rows): counted
from the data files' Parquet footers (each row group's null count of `label`; the footers
read_table's check has just read: fraud_app.features.table.label_nulls) where a filtered
count was two Spark jobs; with Spark when a footer holds no such count."""

from __future__ import annotations

import json
import logging

import pytest

from fraud_app.config import load_config
from fraud_app.features.table import label_nulls
from pipelines.training.feature_input import read_features
from tests.spark_jobs import counted_jobs

pytestmark = pytest.mark.spark


def _table(spark, path) -> None:
    """20 rows over 3 dates in up to 6 files: 8 labels null, a date whose labels are all null."""
    rows = [
        (i, f"2024-03-0{1 + i % 3}", None if i % 3 == 2 or i in (0, 4) else i % 2, float(i))
        for i in range(20)
    ]
    df = spark.createDataFrame(rows, "id int, d string, label int, x double")
    df = df.selectExpr("id", "label", "x", "cast(d as date) as event_date")
    df.repartition(2).write.partitionBy("event_date").parquet(str(path))
    meta = {"feature_names": ["x"], "label_column": "label"}
    (path / "_features.json").write_text(json.dumps(meta))


def test_train_counts_the_unlabelled_rows_from_the_footers(spark, tmp_path, caplog):
    table = tmp_path / "features"
    _table(spark, table)
    expected = spark.read.parquet(str(table)).where("label is null").count()
    assert expected == 8
    config = load_config(None, {"paths.root": str(tmp_path)})
    with caplog.at_level(logging.INFO, logger="fraud_app.features.table"):
        (df, names), jobs = counted_jobs(spark, "read", lambda: read_features(spark, config))
    assert names == ["x"] and df.count() == 12 and df.where("label is null").count() == 0
    assert [r.getMessage() for r in caplog.records if r.name == "fraud_app.features.table"] == [
        "train: 8 rows of the feature table have no label yet (label null) and are left out"
    ]
    # base 3: the schema read, and the filtered count's two (now the schema's only)
    assert jobs <= 1, jobs
    assert label_nulls(spark, str(table)) == 8  # without the reader's footers: read here


def test_a_file_without_a_label_column_is_counted_with_spark(spark, tmp_path):
    folder = tmp_path / "t"
    spark.createDataFrame([(1, 2.0)], "id int, x double").write.parquet(str(folder))
    assert label_nulls(spark, str(folder)) is None  # the caller counts with Spark then
    (folder / "part-bad.parquet").write_bytes(b"not parquet at all")
    assert label_nulls(spark, str(folder)) is None
