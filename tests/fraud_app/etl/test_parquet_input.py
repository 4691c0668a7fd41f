"""Parquet deliveries as users write them (pandas defaults, files of one folder that
differ): every record read as written, or a SchemaError naming the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.errors import SchemaError
from fraud_app.etl.parquet_reader import NANOS_AS_LONG
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark

COLUMNS = {"transaction_id": "TxnRef", "card_id": "PAN", "timestamp": "When",
           "amount": "Value", "label": "Fraud"}  # fmt: skip


def _frame(ids: range) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "TxnRef": [f"T{i}" for i in ids],
            "PAN": [f"00{i % 3}" for i in ids],
            "When": pd.to_datetime("2024-03-01T23:30:00.123456789+01:00")
            + pd.to_timedelta([i * 3600 for i in ids], unit="s"),
            "Value": [10.5 + i for i in ids],
            "Fraud": [i % 2 == 0 for i in ids],
        }
    )


def _etl(spark, tmp_path: Path, src: Path):
    cfg = load_config(
        None,
        {"paths.root": str(tmp_path / "w"), "etl": {"input": str(src), "columns": COLUMNS}},
    )
    return run_etl(spark, cfg)


def test_pandas_nanosecond_timestamps_are_read(spark, tmp_path):
    # pandas writes datetime64[ns] as TIMESTAMP(NANOS): Spark refused the whole folder
    # ([PARQUET_TYPE_ILLEGAL], a traceback at the CLI)
    src = tmp_path / "in"
    src.mkdir()
    df = _frame(range(4))
    df.to_parquet(src / "aware.parquet")  # TIMESTAMP(NANOS, true)
    naive = _frame(range(4, 6))
    naive["When"] = naive["When"].dt.tz_convert("UTC").dt.tz_localize(None)
    naive.to_parquet(src / "naive.parquet")  # TIMESTAMP(NANOS, false): a UTC wall clock
    before = spark.conf.get(NANOS_AS_LONG, None)

    r = _etl(spark, tmp_path, src)

    assert (r.input_rows, r.output_rows, r.quarantine_rows) == (6, 6, 0)
    out = spark.read.parquet(r.output_path).orderBy("transaction_id").toPandas()
    expected = pd.concat([df, naive])["When"].map(
        lambda t: pd.Timestamp(t).tz_localize(None) if t.tzinfo is None else t.tz_convert(None)
    )
    assert out["timestamp"].tolist() == [t.floor("us") for t in expected]  # 22:30:00.123456 UTC
    assert [str(d) for d in out["event_date"]][:2] == ["2024-03-01", "2024-03-01"]
    assert out["label"].tolist() == [1, 0, 1, 0, 1, 0]
    assert spark.conf.get(NANOS_AS_LONG, None) == before  # set for the read only


def test_a_parquet_file_with_other_column_names_is_a_schema_error_naming_it(spark, tmp_path):
    # Spark read the folder with ONE file's schema: the other file's renamed label became
    # nulls (or its extra column vanished) without a word
    src = tmp_path / "in"
    src.mkdir()
    _frame(range(3)).to_parquet(src / "a.parquet")
    _frame(range(3, 6)).rename(columns={"Fraud": "IsFraud"}).to_parquet(src / "b.parquet")
    with pytest.raises(
        SchemaError,
        match=r"b\.parquet: it lacks column\(s\) \['Fraud'\] and has unexpected \['IsFraud'\] "
        r"compared with .*a\.parquet",
    ):
        _etl(spark, tmp_path, src)
    assert not (tmp_path / "w" / "canonical").exists()


def test_parquet_files_with_different_column_types_are_read_as_text(spark, tmp_path):
    # amount as a number in one file, as text in the other (and a bad one among them),
    # ids as integers in one and strings in the other: it failed mid-job with
    # PARQUET_COLUMN_DATA_TYPE_MISMATCH
    src = tmp_path / "in"
    src.mkdir()
    a = _frame(range(3))
    a["TxnRef"] = [1, 2, 3]
    a.to_parquet(src / "a.parquet")
    b = _frame(range(3, 6))
    b["Value"] = ["13.5", "12,5", "15.50"]
    b.to_parquet(src / "b.parquet")

    r = _etl(spark, tmp_path, src)

    assert (r.input_rows, r.output_rows, r.quarantine_rows) == (6, 5, 1)
    assert r.quarantine_by_reason == {"non_numeric_amount": 1}
    out = spark.read.parquet(r.output_path).toPandas().set_index("transaction_id")
    assert out["amount"].to_dict() == {"1": 10.5, "2": 11.5, "3": 12.5, "T3": 13.5, "T5": 15.5}
    (q,) = spark.read.parquet(r.quarantine_path).collect()
    assert (q.raw_TxnRef, q.raw_Value) == ("T4", "12,5")
    assert q.source_file.endswith("b.parquet")
