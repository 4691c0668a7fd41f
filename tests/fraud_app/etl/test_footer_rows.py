"""A count from the Parquet footers (fraud_app.etl.manifest.footer_rows, the feature step's
written rows, score's rows per date) equals Spark's count of the same folder: the files
Spark skips are skipped, and a file whose footer does not parse hands the count to Spark."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import footer_rows
from fraud_app.features.table import written_rows
from fraud_app.scoring.input_fill import footer_day_rows

pytestmark = pytest.mark.spark


def test_footer_counts_skip_what_spark_skips_and_hand_damage_to_spark(spark, tmp_path):
    table = tmp_path / "t"
    spark.range(0, 60).selectExpr("id", "date_add(date'2024-01-01', cast(id % 3 as int)) as "
                                  "event_date").write.partitionBy("event_date").parquet(str(table))  # fmt: skip
    day = table / "event_date=2024-01-01"
    pq.write_table(pa.table({"id": list(range(100, 110))}), day / "part-rg.parquet",
                   row_group_size=3)  # fmt: skip  # four row groups
    pq.write_table(pa.table({"id": [1, 2]}), day / "_tmp.parquet")
    pq.write_table(pa.table({"id": [1, 2, 3]}), day / ".hidden.parquet")
    # a copy under way whose bytes are all there (`hdfs dfs -put`, not yet renamed): Spark
    # skips it; its footer's rows were counted (70 + 10 here)
    copied = next(day.glob("part-0*.parquet")).read_bytes()
    (day / "part-copy.parquet._COPYING_").write_bytes(copied)
    (table / "event_date=2024-01-09").mkdir()  # a date folder without files
    fs, spark_rows = HadoopFs(spark), spark.read.parquet(str(table)).count()
    assert spark_rows == 70
    assert footer_rows(fs, str(table)) == spark_rows
    days = footer_day_rows(fs, str(table), dt.date(2024, 1, 1), dt.date(2024, 1, 9))
    assert days is not None and sum(days.values()) == spark_rows
    # a file whose footer does not parse (empty, cut short): Spark counts
    (day / "part-empty.parquet").write_bytes(b"")
    assert footer_rows(fs, str(table)) is None
    assert written_rows(spark, fs, str(table)) == spark.read.parquet(str(table)).count() == 70
