"""The schema Spark would infer for a Parquet table, from the footers a run already read.

`spark.read.parquet(table)` without a schema is a Spark job that reads a footer for it
(Spark's schema inference: the first data file's footer when schemas are not merged), on
every read: the feature step's canonical table, the scorer's feature table, each a job of
scheduling latency and an executor round trip whatever the rows. A reader that compared
the table with its `_files.json` (fraud_app.etl.manifest.verify) read every data file's
footer on the driver already, and Spark writes its own schema into each footer (the
key-value entry `org.apache.spark.sql.parquet.row.metadata`, which its inference reads
first). When every data file's footer is held and holds the same such schema, whichever
file Spark's inference would read gives that schema, so the reader passes it and the job
is not run (the partition column is discovered from the folder names as before). In any
other case (a footer not held or without the entry, schemas that differ, a summary file
that inference reads first, no data file) None: Spark infers it as before.
"""

from __future__ import annotations

import json

from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, footer_metadata

SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"
SUMMARY_FILES = ("_metadata", "_common_metadata")  # what Spark's inference reads first


def held_schema(fs: HadoopFs, table: str, cache: FooterCache | None) -> StructType | None:
    """The data schema Spark's inference would give the Parquet table `table` (without its
    partition columns), from the footers `cache` holds; None when they do not answer it
    (module doc)."""
    if cache is None:
        return None
    root = fs.qualify(table).rstrip("/")
    files = fs.list_sizes(root)
    held = cache.held([f for f in files if f[1] >= 12]) if files else None
    if not held or len(held) != len(files):
        return None
    texts = set()
    for footer in held:
        meta = footer_metadata(footer)
        text = None if meta is None else (meta.metadata or {}).get(SPARK_SCHEMA_KEY)
        if text is None:
            return None
        texts.add(text)
    if len(texts) != 1 or any(fs.exists(f"{root}/{name}") for name in SUMMARY_FILES):
        return None
    try:
        return StructType.fromJson(json.loads(texts.pop()))
    except (ValueError, KeyError, TypeError, AttributeError):  # not the JSON form: Spark's
        return None  # inference parses it (an older release's text)


def read_parquet(spark: SparkSession, fs: HadoopFs, table: str, cache: FooterCache | None):
    """spark.read.parquet(table), with `held_schema`'s schema when the footers in `cache`
    give it (no Spark job reads a footer for it), else as Spark infers it."""
    schema = held_schema(fs, table, cache)
    return (spark.read if schema is None else spark.read.schema(schema)).parquet(table)
