"""`score`'s check of the optional input columns on the scored dates (session 33): a
column the canonical table held for weeks and a delivery dropped or emptied is named with
its share of values then and now and the model's features that read it; columns that
keep their values, and the labels (null on new rows by design), are not."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.scoring.input_fill import (
    HISTORY_DAYS,
    emptied_inputs,
    judged_columns,
    value_counts,
    warn_emptied,
)
from tests.fraud_app.etl.test_delivery_drift import _day, _etl, _history

pytestmark = pytest.mark.spark
DAY = dt.date(2024, 3, 9)


@pytest.fixture(scope="module")
def emptied(spark, tmp_path_factory) -> Path:
    """root: 8 days of every column, then DAY without `mcc` (two ETL runs), made once for
    the module's tests, which only read it (they made the same table each, session 44)."""
    root = tmp_path_factory.mktemp("emptied")
    _history(spark, root)
    _etl(spark, root, _day(str(DAY), prefix="n").drop(columns=["mcc"]), "new", "append")
    return root


def test_a_column_emptied_on_the_scored_dates_is_named(spark, emptied, caplog) -> None:
    config = load_config(None, {"paths.root": str(emptied / "work")})
    canonical = spark.read.parquet(config.canonical_table())
    feature_set = feature_set_from_config(config.features)
    # a model without the country features
    model_names = [n for n in feature_set.names if "country" not in n and "cross" not in n]
    judged = judged_columns(feature_set, model_names)
    assert "mcc" in judged and "mcc_freq" in judged["mcc"]
    assert "country" not in judged and "label" not in judged and "label_time" not in judged

    counts = value_counts(canonical, list(judged), DAY, DAY)
    assert counts[DAY][0] == 10 and counts[DAY][1]["mcc"] == 0
    assert min(counts) == dt.date(2024, 3, 1)  # the history read: up to HISTORY_DAYS before
    assert DAY - min(counts) <= dt.timedelta(days=HISTORY_DAYS)
    emptied = emptied_inputs(counts, judged, DAY)
    assert [e.column for e in emptied] == ["mcc"]
    assert emptied[0].to_dict() == {
        "share_before": 1.0, "dates": {"2024-03-09": 0.0}, "features": list(judged["mcc"]),
    }  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.input_fill"):
        warn_emptied("score", DAY, DAY, emptied, config.etl.source_for)
    (line,) = [r.getMessage() for r in caplog.records if r.name.endswith("input_fill")]
    assert line.startswith("score 2024-03-09..2024-03-09: input column(s) the model's features")
    assert (
        "mcc (export column 'mcc') holds a value in 0% of the rows of 1 date(s) (2024-03-09)"
        in line
    )
    assert "against 100% in the 28 days before; features reading it: mcc_freq" in line
    assert "etl.mode: replace over every delivery" in line

    # the dates before: nothing emptied there
    assert emptied_inputs(counts, judged, dt.date(2024, 3, 8)) != []  # 03-09 is scored too
    before = {d: v for d, v in counts.items() if d < DAY}
    assert emptied_inputs(before, judged, dt.date(2024, 3, 8)) == []


COLUMNS = ["mcc", "channel", "country", "card_country", "device_id", "no_such_column"]


def test_the_footers_count_what_spark_counts(spark, emptied, tmp_path) -> None:
    # the counts come from the Parquet footers (no Spark job: a daily score read 29 dates of
    # the canonical table for them); they must be Spark's, column by column, date by date
    from fraud_app.etl.fs import HadoopFs
    from fraud_app.scoring.input_fill import fill_counts, footer_counts

    config = load_config(None, {"paths.root": str(emptied / "work")})
    table = config.canonical_table()
    canonical = spark.read.parquet(table)
    fs = HadoopFs(spark)

    spark_counts = value_counts(canonical, COLUMNS, DAY, DAY)
    assert spark_counts[DAY][1]["mcc"] == 0 and len(spark_counts) > 5
    assert footer_counts(fs, table, COLUMNS, DAY, DAY) == spark_counts
    assert fill_counts(spark, table, canonical, COLUMNS, DAY, DAY) == spark_counts
    # no partition of the scored dates under that path (another layout): Spark counts
    assert footer_counts(fs, str(tmp_path / "elsewhere"), COLUMNS, DAY, DAY) is None


def test_a_file_without_null_counts_is_counted_by_spark(spark, tmp_path) -> None:
    # a table another writer wrote: footers without statistics ask Spark
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fraud_app.etl.fs import HadoopFs
    from fraud_app.scoring.input_fill import fill_counts, footer_counts

    for i, stats in enumerate((True, True, False)):
        folder = tmp_path / "t" / f"event_date=2024-03-0{i + 1}"
        folder.mkdir(parents=True)
        rows = pa.table({"mcc": ["5411", None, "5812"][: i + 1] * 3, "amount": [1.0] * (3 * i + 3)})
        pq.write_table(rows, folder / "part-0.parquet", write_statistics=stats)
    table, day = str(tmp_path / "t"), dt.date(2024, 3, 3)
    df = spark.read.parquet(table)
    expected = {dt.date(2024, 3, d): (3 * d, {"mcc": m}) for d, m in ((1, 3), (2, 3), (3, 6))}
    assert value_counts(df, ["mcc"], day, day) == expected
    assert footer_counts(HadoopFs(spark), table, ["mcc"], day, day) is None
    assert fill_counts(spark, table, df, ["mcc"], day, day) == expected
    pq.write_table(pq.read_table(tmp_path / "t" / "event_date=2024-03-03" / "part-0.parquet"),
                   tmp_path / "t" / "event_date=2024-03-03" / "part-0.parquet")  # fmt: skip
    assert footer_counts(HadoopFs(spark), table, ["mcc"], day, day) == expected
