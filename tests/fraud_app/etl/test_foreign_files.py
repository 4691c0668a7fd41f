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
        "'yyyy-MM-dd HH:mm:ss'; it looks like ISO-8601 (offsets such as +01:00 or Z are "
        "converted to UTC): set etl.timestamp_format: iso8601"
    )  # the hint: an init config's pattern quarantined an ISO export without saying what to set
    # unset, the same ISO-8601 value with its offset is read as UTC
    iso = run_etl(spark, _config(tmp_path, src))
    assert (iso.output_rows, iso.quarantine_rows) == (2, 0)


def _rows_by_id(spark, path: str) -> dict[str, object]:
    return {r.transaction_id: r for r in spark.read.parquet(path).collect()}


def _quarantine_by_id(spark, path: str) -> dict[str, object]:
    return {r.raw_transaction_id: r for r in spark.read.parquet(path).collect()}


def test_an_epoch_number_of_the_other_unit_is_quarantined_naming_the_setting(spark, tmp_path):
    src = tmp_path / "in.csv"
    seconds, millis = "1704103200", "1704103200000"  # 2024-01-01 10:00:00 UTC
    src.write_text(f"{HEADER}\nt1,c1,m1,{millis},5,0\nt2,c1,m1,{seconds},5,0\n")
    # epoch_millis: a 10-digit seconds value was read as 1970-01-20 20:21:43 (inside the
    # default bounds) and published without a word
    result = run_etl(spark, _config(tmp_path, src, timestamp_format="epoch_millis"))
    assert list(_rows_by_id(spark, result.output_path)) == ["t1"]
    (row,) = _quarantine_by_id(spark, result.quarantine_path).values()
    assert (row.raw_transaction_id, row.reason) == ("t2", "unparseable_timestamp")
    assert row.reason_detail == (
        f"timestamp '{seconds}' is not epoch milliseconds (etl.timestamp_format 'epoch_millis': "
        "a number from 1e11, 1973-03-03, to 1e14); it looks like epoch seconds: set "
        "etl.timestamp_format: epoch_seconds"
    )
    # the other way round, and an epoch number where ISO-8601 text is expected
    result = run_etl(spark, _config(tmp_path, src, timestamp_format="epoch_seconds"))
    (row,) = _quarantine_by_id(spark, result.quarantine_path).values()
    assert row.raw_transaction_id == "t1"
    assert row.reason_detail.endswith(
        "it looks like epoch milliseconds: set etl.timestamp_format: epoch_millis"
    )
    result = run_etl(spark, _config(tmp_path, src))
    details = {
        k: r.reason_detail for k, r in _quarantine_by_id(spark, result.quarantine_path).items()
    }
    assert details["t2"] == (
        f"timestamp '{seconds}' does not parse as an ISO-8601 timestamp (etl.timestamp_format "
        "is unset); it looks like epoch seconds: set etl.timestamp_format: epoch_seconds"
    )


AMOUNTS = {  # raw amount -> (value with decimal_separator ",", hint with the default ".")
    '"12,50"': (12.5, "it looks like a decimal comma: set etl.decimal_separator: ','"),
    '"1.234,56"': (1234.56, "it looks like a decimal comma: set etl.decimal_separator: ','"),
    "\"1 234,5\"": (1234.5, "it looks like a decimal comma: set etl.decimal_separator: ','"),
    '"1,234.56"': (None, "it groups thousands with ',': write the number without grouping"),
    "$12.50": (None, "it holds a currency sign or code: the amount column must hold the "
                     "number alone (keep the currency in a column of its own)"),
    "12.50 EUR": (None, "it holds a currency sign or code"),
    "12.5": (None, None),
}  # fmt: skip


def _amount_file(tmp_path: Path) -> Path:
    src = tmp_path / "amounts.csv"
    lines = [f"t{i},c1,m1,2024-01-01 10:00:00,{raw},0" for i, raw in enumerate(AMOUNTS)]
    src.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return src


def test_an_amount_that_is_not_a_plain_number_says_what_was_expected(spark, tmp_path):
    result = run_etl(spark, _config(tmp_path, _amount_file(tmp_path)))
    assert list(_rows_by_id(spark, result.output_path)) == [f"t{len(AMOUNTS) - 1}"]  # 12.5
    quarantined = _quarantine_by_id(spark, result.quarantine_path)
    for i, (raw, (_, hint)) in enumerate(list(AMOUNTS.items())[:-1]):
        row = quarantined[f"t{i}"]
        assert row.reason == "non_numeric_amount"
        # before: "amount '12,50' is not a number", with nothing about what was expected
        assert row.reason_detail.startswith(
            f"amount '{raw.strip(chr(34))}' is not a number: expected a plain number with '.' "
            "as decimal point, e.g. 1234.56; "
        ), row.reason_detail
        assert hint in row.reason_detail


def test_a_decimal_comma_is_read_with_etl_decimal_separator(spark, tmp_path):
    result = run_etl(spark, _config(tmp_path, _amount_file(tmp_path), decimal_separator=","))
    read = {k: r.amount for k, r in _rows_by_id(spark, result.output_path).items()}
    assert read == {f"t{i}": v for i, (v, _) in enumerate(AMOUNTS.values()) if v is not None}
    quarantined = _quarantine_by_id(spark, result.quarantine_path)
    assert sorted(quarantined) == ["t3", "t4", "t5", "t6"]
    assert quarantined["t6"].reason_detail == (
        "amount '12.5' is not a number: expected a number with ',' as decimal separator "
        "(etl.decimal_separator), e.g. 1234,56 or 1.234,56; it looks like a decimal point: set "
        "etl.decimal_separator: '.'"
    )


def test_a_bom_crlf_file_with_other_column_names_and_zone_offsets_is_read(spark, tmp_path):
    src = tmp_path / "export.csv"
    src.write_bytes(
        "\ufefftxn;card;when;amt;fraud\r\n"
        "a;c1;2024-01-01T10:00:00+02:00;5;0\r\nb;c1;2024-01-01 10:00:00-0500;6;1\r\n"
        "c;c1;2024-01-01T10:00:00Z;7;0\r\n".encode()
    )
    cols = {"transaction_id": "txn", "card_id": "card", "timestamp": "when", "amount": "amt",
            "label": "fraud"}  # fmt: skip
    result = run_etl(spark, _config(tmp_path, src, columns=cols, csv_delimiter=";"))
    rows = _rows_by_id(spark, result.output_path)
    assert {k: (str(r.timestamp), r.amount, r.label) for k, r in rows.items()} == {
        "a": ("2024-01-01 08:00:00", 5.0, 0),
        "b": ("2024-01-01 15:00:00", 6.0, 1),
        "c": ("2024-01-01 10:00:00", 7.0, 0),
    }
    assert result.quarantine_rows == 0


def test_tsv_files_are_read_with_a_tab_unless_a_delimiter_is_set(spark, tmp_path):
    # a .tsv was taken for CSV with ',' and the run stopped asking for etl.csv_delimiter
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.tsv").write_text((HEADER + "\n" + ROWS).replace(",", "\t"))
    result = run_etl(spark, _config(tmp_path, src))
    assert (result.output_rows, result.quarantine_rows) == (2, 0)
    with pytest.raises(SchemaError, match=r"set etl.csv_delimiter: \"\\t\""):
        run_etl(spark, _config(tmp_path, src, csv_delimiter=","))  # set: honoured
