"""`read_table` passes Spark the schema its inference would read from a footer, from the
footers the `_files.json` check already read (fraud_app.etl.footer_schema): no Spark job
reads one again (was 1 job on every read of the canonical table: the feature step's, the
scorer's, `validate`'s). The same schema, field metadata included, and the same rows as
`spark.read.parquet`; where the footers do not answer it (no `_files.json`, so none read;
part files of two schemas) Spark infers it as before. Real parts: the ETL, local Spark,
files (session 53, helper ci53)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fraud_app.config import load_config
from fraud_app.etl.footer_schema import held_schema
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.manifest import FooterCache, verify
from fraud_app.etl.table_read import read_table
from tests.fraud_app.features.day_deliveries import deliver
from tests.spark_jobs import counted_jobs

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def canonical(spark, tmp_path_factory) -> Path:
    """3 days x 30 rows published by the ETL: its canonical table (with `_files.json`)."""
    base = tmp_path_factory.mktemp("read-table-schema")
    deliver(spark, base / "work", base / "raw", range(1, 4), "replace")
    return Path(load_config(None, {"paths.root": str(base / "work")}).canonical_table())


def _copy(table: Path, tmp_path: Path) -> Path:
    shutil.copytree(table, tmp_path / "canonical")
    return tmp_path / "canonical"


def _rows(df) -> list:
    return sorted(tuple(r) for r in df.collect())


def test_the_table_is_read_without_a_job_with_the_schema_and_rows_spark_infers(spark, canonical):
    df, jobs = counted_jobs(spark, "read", lambda: read_table(spark, str(canonical), "t", "etl"))
    inferred = spark.read.parquet(str(canonical))
    assert jobs == 0  # base: 1 (the schema inference's footer read)
    assert df.schema.json() == inferred.schema.json()  # names, types, nullability, metadata
    assert df.columns[-1] == "event_date" and len(df.columns) == len(inferred.columns)
    assert _rows(df) == _rows(inferred) and len(_rows(df)) == 90


def test_without_a_files_record_spark_infers_the_schema_as_before(spark, canonical, tmp_path):
    table = _copy(canonical, tmp_path)
    (table / "_files.json").unlink()  # accepted as it is: no footer is read
    df, jobs = counted_jobs(spark, "read", lambda: read_table(spark, str(table), "t", "etl"))
    assert jobs == 1
    assert df.schema.json() == spark.read.parquet(str(table)).schema.json()


def test_part_files_of_two_schemas_leave_the_schema_to_spark(spark, canonical, tmp_path):
    """One part file rewritten with a column's Spark schema entry changed (its metadata):
    the footers disagree, so none of them is taken for the table's (Spark reads the first
    file's); with the files held and all alike the schema comes from them."""
    table = _copy(canonical, tmp_path)
    fs, cache = HadoopFs(spark), FooterCache()
    verify(fs, str(table), "t", "etl", cache)
    assert held_schema(fs, str(table), cache) is not None
    assert held_schema(fs, str(table), FooterCache()) is None  # nothing held: nothing read
    part = sorted(table.glob("event_date=*/*.parquet"))[-1]
    data = pq.read_table(part)
    key = b"org.apache.spark.sql.parquet.row.metadata"
    schema = json.loads(data.schema.metadata[key])
    schema["fields"][0]["metadata"] = {"changed": "yes"}
    pq.write_table(data.replace_schema_metadata({key: json.dumps(schema).encode()}), part)
    (table / "_files.json").unlink()  # the changed file is not the one recorded
    cache = FooterCache()
    cache.footers(fs, fs.list_sizes(fs.qualify(str(table))), True)  # every footer held
    assert held_schema(fs, str(table), cache) is None
