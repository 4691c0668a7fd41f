"""What an ETL write just staged, read back and counted without Spark jobs of their own.

A staged folder read back by `spark.read.parquet(folder)` is a Spark job that reads a
footer for its schema, and its `.count()` two more under AQE, whatever its rows: on a
cluster each is scheduling latency and an executor round trip. The ETL knows the schema
it wrote and can count rows from the Parquet footers on the driver, as the feature table
does (fraud_app.features.table.written_rows). Session 41 (helper etl41) moved its
read-backs here: the staged input (fraud_app.etl.stage_summary), the new partitions and
the quarantine file (fraud_app.etl.publish, fraud_app.etl.append_publish).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, footer_rows


def read_written(spark: SparkSession, schema: StructType, *paths: str) -> DataFrame:
    """The Parquet files just written at `paths` with the `schema` of the rows written, as
    Spark reads Parquet (every column nullable): no job reads a footer for it."""
    nullable = StructType([StructField(f.name, f.dataType, True, f.metadata) for f in schema])
    return spark.read.schema(nullable).parquet(*paths)


def written_rows(
    fs: HadoopFs, written: DataFrame, folder: str, partitions: list[str] | None = None,
    cache: FooterCache | None = None,
) -> int:  # fmt: skip
    """The rows of the Parquet files just written under `folder` (of its partition folders
    `partitions` when given), from their footers; `written.count()` (`written`: those
    files read back) when a footer does not parse, where Spark names the damaged file.
    `cache`: the run's footers (fraud_app.etl.manifest.FooterCache)."""
    rows = footer_rows(fs, folder, partitions, cache)
    return written.count() if rows is None else rows
