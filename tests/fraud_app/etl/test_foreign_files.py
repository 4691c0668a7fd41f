"""Files that are not quite what ETL expects: a clear SchemaError, or read as written."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import SchemaError
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark

ROWS = "t1,c1,m1,2024-01-01 10:00:00,12.5,0\nt2,c2,m1,2024-01-02 11:00:00,3,1\n"
HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label"


def _config(tmp_path: Path, src: Path, **etl):
    return load_config(
        None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(src), **etl}}
    )


def test_a_binary_file_named_csv_is_a_schema_error_naming_it(spark, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    # a gzip archive without its .gz suffix: its first "line" is binary (and may hold a
    # backtick, which broke Spark's column-name parser with an internal error)
    (src / "export.csv").write_bytes(gzip.compress((HEADER + "\n" + ROWS).encode()) + b"`\n")
    with pytest.raises(SchemaError, match=r"export\.csv: its first line is not a CSV header"):
        run_etl(spark, _config(tmp_path, src))
    assert not (tmp_path / "work" / "canonical").exists()


def test_column_names_with_backticks_are_read(spark, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(HEADER.replace("amount", "amt`eur") + ",note`s\n" + ROWS.replace("\n", ",x\n"))
    result = run_etl(spark, _config(tmp_path, src, columns={"amount": "amt`eur"}))
    assert (result.output_rows, result.quarantine_rows) == (2, 0)
    amounts = spark.read.parquet(result.output_path).orderBy("transaction_id").collect()
    assert [r.amount for r in amounts] == [12.5, 3.0]


@pytest.mark.parametrize("sep, shown", [(";", '";"'), ("\t", '"\\t"')])
def test_an_unsplit_header_suggests_the_delimiter(spark, tmp_path, sep, shown):
    src = tmp_path / "in.csv"
    src.write_text((HEADER + "\n" + ROWS).replace(",", sep))
    with pytest.raises(SchemaError, match="set etl.csv_delimiter: " + shown.replace("\\", "\\\\")):
        run_etl(spark, _config(tmp_path, src))


def test_an_unparseable_timestamp_names_the_format_it_was_read_with(spark, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text(
        HEADER + "\nt1,c1,m1,2024-01-01T10:00:00Z,5,0\nt2,c1,m1,2024-01-01 10:00:00,5,0\n"
    )
    result = run_etl(spark, _config(tmp_path, src, timestamp_format="yyyy-MM-dd HH:mm:ss"))
    (row,) = spark.read.parquet(result.quarantine_path).collect()
    assert row.reason == "unparseable_timestamp"
    assert row.reason_detail == (
        "timestamp '2024-01-01T10:00:00Z' does not parse with etl.timestamp_format "
        "'yyyy-MM-dd HH:mm:ss'"
    )
    # unset, the same ISO-8601 value with its offset is read as UTC
    iso = run_etl(spark, _config(tmp_path, src))
    assert (iso.output_rows, iso.quarantine_rows) == (2, 0)
