"""Deliveries shaped the way other teams' tools write them, each through the real ETL:
ids that passed through a float, offsets given as epochs, names that differ in case or
spaces, a session in another time zone. Every run's records are all accounted for
(`assert_accounted`: records = canonical + quarantine + duplicates, from the files)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError, SchemaError
from fraud_app.etl.pipeline import EtlResult, run_etl
from fraud_app.schema import PARTITION_COLUMN

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label\n"
SESSION_TIME_ZONE = "spark.sql.session.timeZone"


def _write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, pd.DataFrame):
        content.to_parquet(path, index=False)
    else:
        path.write_text(content)
    return path


def _run(spark, tmp_path: Path, files: dict[str, object], **etl) -> EtlResult:
    for name, content in files.items():
        _write(tmp_path / "in" / name, content)
    config = load_config(
        None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(tmp_path / "in"), **etl}}
    )
    return run_etl(spark, config)


def assert_accounted(spark, result: EtlResult, records: int) -> None:
    """Every input record is in exactly one place, counted from the written files."""
    out = spark.read.parquet(result.output_path).count() if result.output_rows else 0
    quarantined = spark.read.parquet(result.quarantine_path).count()
    assert result.input_rows == records
    assert (out, quarantined) == (result.output_rows, result.quarantine_rows)
    assert records == out - result.previous_rows + quarantined + result.duplicate_rows


def _rows(spark, result: EtlResult) -> dict[str, dict]:
    return {r.transaction_id: r.asDict() for r in spark.read.parquet(result.output_path).collect()}


def _quarantine(spark, result: EtlResult) -> dict[str, tuple[str, str]]:
    q = spark.read.parquet(result.quarantine_path).collect()
    return {r.raw_transaction_id: (r.reason, r.reason_detail) for r in q}


def _frame(**columns) -> pd.DataFrame:
    base = {
        "transaction_id": ["t1", "t2"],
        "card_id": ["c1", "c2"],
        "timestamp": ["2024-01-05 10:00:00"] * 2,
        "amount": [1.5, 2.0],
        "label": [0, 1],
    }
    return pd.DataFrame({**base, **columns})


def test_a_float_id_is_the_same_id_as_its_integer(spark, tmp_path) -> None:
    # pandas writes an integer column with a gap as float64: card 123 was '123.0' in one
    # file and '123' in the other, two cards for one
    files = {
        "a.parquet": _frame(card_id=[123.0, 10_000_000.0]),
        "b.parquet": _frame(transaction_id=["t3", "t4"], card_id=["123", "10000000"]),
    }
    result = _run(spark, tmp_path, files)
    assert_accounted(spark, result, 4)
    cards = {k: v["card_id"] for k, v in _rows(spark, result).items()}
    assert cards == {"t1": "123", "t2": "10000000", "t3": "123", "t4": "10000000"}
    # a single file of float ids: the integers, not '123.0' / '1.0E7'
    result = _run(spark, tmp_path / "one", {"a.parquet": _frame(card_id=[123.0, 1e7])})
    assert sorted(v["card_id"] for v in _rows(spark, result).values()) == ["10000000", "123"]


def test_an_id_in_scientific_notation_is_quarantined(spark, tmp_path) -> None:
    # a spreadsheet shows 16-digit card numbers as 4.11111E+15; a double id beyond 2^53
    # is written 9.1111111111111107E18: distinct cards became one and were published
    csv = HEADER + (
        "t1,4.11111E+15,m1,2024-01-05 10:00:00,1.5,0\n"
        "t2,1E+15,m1,2024-01-05 10:00:00,1.5,0\n"
        "t3,c3,1.2E7,2024-01-05 10:00:00,1.5,0\n"
        "t4,3e10,12e45,2024-01-05 10:00:00,1.5,0\n"  # hex-like ids without '.' or '+' are ids
    )
    result = _run(spark, tmp_path, {"a.csv": csv})
    assert_accounted(spark, result, 4)
    q = _quarantine(spark, result)
    assert {k: v[0] for k, v in q.items()} == {"t1": "inexact_id", "t2": "inexact_id",
                                               "t3": "inexact_id"}  # fmt: skip
    assert q["t3"][1].startswith("merchant_id '1.2E7' is a number in scientific notation")
    assert q["t1"][1] == (
        "card_id '4.11111E+15' is a number in scientific notation: the id was stored as a "
        "float (a spreadsheet, a float column), which keeps about 15 digits, so distinct ids "
        "may have become one; deliver ids as text or integers"
    )
    assert _rows(spark, result)["t4"]["card_id"] == "3e10"
    big = _run(spark, tmp_path / "pq", {"a.parquet": _frame(card_id=[9111111111111111111.0, 7.0])})
    assert_accounted(spark, big, 2)
    assert _quarantine(spark, big)["t1"][0] == "inexact_id"
    assert _rows(spark, big)["t2"]["card_id"] == "7"


def test_a_small_number_under_epoch_seconds_is_an_offset_not_1970(spark, tmp_path) -> None:
    # PaySim's `step` (hours since the start, 1..743) read as seconds: a month of data in
    # 12 minutes of 1970-01-01, published
    result = _run(
        spark, tmp_path, {"a.parquet": _frame(timestamp=[1, 1704448800])},
        timestamp_format="epoch_seconds",
    )  # fmt: skip
    assert_accounted(spark, result, 2)
    assert _rows(spark, result)["t2"]["timestamp"] == dt.datetime(2024, 1, 5, 10)
    reason, detail = _quarantine(spark, result)["t1"]
    assert reason == "unparseable_timestamp"
    assert detail == (
        "timestamp '1' is not epoch seconds (etl.timestamp_format 'epoch_seconds': a number "
        "from 1e8, 1973-03-03, to 1e11); it looks like an offset from the start of the data "
        "(an hour `step` as in PaySim, seconds since the first row), not an epoch: set "
        "etl.timestamp_format: offset_hours (or offset_seconds) and etl.timestamp_origin: the "
        "instant the offsets count from, e.g. 2017-12-01T00:00:00"
    )


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("a.csv", HEADER.replace("label", "label,Amount") + "t1,c,m,2024-01-05,1,0,2\n",
         r"a\.csv: its header repeats column\(s\) \['Amount', 'amount'\]"),
        ("a.parquet", _frame(Amount=[3.0, 4.0]),
         r"a\.parquet: its columns \['Amount', 'amount'\] differ only in case"),
        ("a.jsonl", '{"transaction_id": "t", "card_id": "c", "timestamp": "2024-01-05", '
                    '"amount": 1, "Amount": 2, "label": 0}\n',
         r"\(json\) has two columns whose names differ only in case"),
    ],
)  # fmt: skip
def test_names_that_differ_only_in_case_are_named(spark, tmp_path, name, content, match) -> None:
    # CSV: Spark's renamed copies made the run say `amount` was missing; JSON and Parquet:
    # an AnalysisException traceback (COLUMN_ALREADY_EXISTS)
    with pytest.raises(SchemaError, match=match):
        _run(spark, tmp_path, {name: content})


def test_a_header_name_with_other_case_or_spaces_is_pointed_out(spark, tmp_path) -> None:
    csv = "Transaction_ID, card_id,merchant_id,timestamp,amount,label\nt,c,m,2024-01-05,1,0\n"
    with pytest.raises(SchemaError, match=(
        r"Found 'Transaction_ID' for 'transaction_id', ' card_id' for 'card_id': names are "
        r"matched exactly \(case, spaces, '_' and '-' count\); map them under etl.columns"
    )):  # fmt: skip
        _run(spark, tmp_path, {"a.csv": csv})


def test_a_session_in_another_time_zone_is_run_in_utc(spark, tmp_path) -> None:
    # a notebook's own session in New York read naive times as New York times (23:30 ->
    # 04:30 UTC the next day) and wrote event_date by New York dates
    csv = HEADER + "t1,c,m,2024-01-05 23:30:00,1,0\nt2,c,m,2024-01-05T23:30:00-05:00,1,0\n"
    spark.conf.set(SESSION_TIME_ZONE, "America/New_York")
    try:
        result = _run(spark, tmp_path, {"a.csv": csv})
        assert spark.conf.get(SESSION_TIME_ZONE) == "UTC"
    finally:
        spark.conf.set(SESSION_TIME_ZONE, "UTC")
    assert_accounted(spark, result, 2)
    rows = _rows(spark, result)
    assert (rows["t1"]["timestamp"], rows["t1"][PARTITION_COLUMN]) == (
        dt.datetime(2024, 1, 5, 23, 30),
        dt.date(2024, 1, 5),
    )
    assert (rows["t2"]["timestamp"], rows["t2"][PARTITION_COLUMN]) == (
        dt.datetime(2024, 1, 6, 4, 30),
        dt.date(2024, 1, 6),
    )


# (raw timestamp, amount, label) -> reason; None = clean
LOOSE = {
    # Spark's cast read a time alone as that time of the ETL run's day, a year as 1 January
    "time_only": (("10:00:00", "1", "0"), "unparseable_timestamp"),
    "t_time": (("T10:00:00", "1", "0"), "unparseable_timestamp"),
    "year": (("2024", "1", "0"), "unparseable_timestamp"),
    "month": (("2024-01", "1", "0"), "unparseable_timestamp"),
    "date": (("2024-01-05", "1", "0"), None),
    "loose_date": (("2024-1-5 1:2:3", "1", "0"), None),
    # Java's number spellings: '12.5d' was 12.5, hexadecimal '0x1p3' was 8.0, label '1d' fraud
    "amount_d": (("2024-01-05", "12.5d", "0"), "non_numeric_amount"),
    "amount_hex": (("2024-01-05", "0x1p3", "0"), "non_numeric_amount"),
    "amount_nan": (("2024-01-05", "NaN", "0"), "non_finite_amount"),
    "amount_exp": (("2024-01-05", "1.5e2", "0"), None),
    "label_d": (("2024-01-05", "1", "1d"), "invalid_label"),
    "label_f": (("2024-01-05", "1", "0f"), "invalid_label"),
}


def test_loose_spellings_are_quarantined_not_guessed(spark, tmp_path) -> None:
    csv = HEADER + "".join(f"{k},c,m,{ts},{a},{y}\n" for k, ((ts, a, y), _) in LOOSE.items())
    result = _run(spark, tmp_path, {"a.csv": csv})
    assert_accounted(spark, result, len(LOOSE))
    q = _quarantine(spark, result)
    assert {k: q[k][0] if k in q else None for k in LOOSE} == {k: v for k, (_, v) in LOOSE.items()}
    assert q["time_only"][1] == (
        "timestamp '10:00:00' does not parse as an ISO-8601 timestamp (etl.timestamp_format is "
        "unset); it holds a time without a date (expected the date first, e.g. "
        "2024-01-31T10:00:00; a time alone was read as the ETL run's own day)"
    )
    assert q["year"][1].endswith(
        "; it lacks the day (a year or month alone was read as its first day)"
    )
    assert _rows(spark, result)["amount_exp"]["amount"] == 150.0


def test_a_timestamp_pattern_without_a_date_is_refused() -> None:
    # 'HH:mm:ss' put every row on 1970-01-01, inside the default bounds
    with pytest.raises(ConfigError, match=r"etl.timestamp_format 'HH:mm:ss' lacks a year \(y\)"):
        load_config(None, {"etl": {"timestamp_format": "HH:mm:ss"}})
    cfg = load_config(None, {"etl": {"timestamp_format": "dd/MM/yyyy'T'HH:mm"}})
    assert cfg.etl.timestamp_format == "dd/MM/yyyy'T'HH:mm"


def test_null_markers_and_invisible_blanks_in_ids(spark, tmp_path) -> None:
    # 'NULL' as a card_id made one card of every card-less row ('N/A' one merchant), and
    # 'c1' followed by a no-break space, a tab or led by a zero-width space was another card
    csv = HEADER + (
        "t1,NULL,m1,2024-01-05 10:00:00,1.5,0\n"
        "NULL,c1,m1,2024-01-05 10:00:00,1.5,0\n"
        "t3,c1,N/A,2024-01-05 10:00:00,1.5,0\n"
        "t4,c1\u00a0,m1,2024-01-05 10:00:00,1.5,0\n"
        "t5,c1\t,m1,2024-01-05 10:00:00,1.5,0\n"
        "t6,\u200bc1,nan,2024-01-05 10:00:00,\u00a012.5\u00a0,0\n"
        "t7,\u00a0,m1,2024-01-05 10:00:00,1.5,0\n"
    )
    result = _run(spark, tmp_path, {"a.csv": csv})
    assert_accounted(spark, result, 7)
    q = _quarantine(spark, result)
    assert q == {
        "t1": ("missing_required_field", "missing required field(s): card_id ('NULL' means no value)"),
        "NULL": ("missing_required_field",
                 "missing required field(s): transaction_id ('NULL' means no value)"),
        "t7": ("missing_required_field", "missing required field(s): card_id"),
    }  # fmt: skip
    rows = _rows(spark, result)
    assert {k: (v["card_id"], v["merchant_id"]) for k, v in rows.items()} == {
        "t3": ("c1", None), "t4": ("c1", "m1"), "t5": ("c1", "m1"), "t6": ("c1", None),
    }  # fmt: skip
    assert rows["t6"]["amount"] == 12.5


def test_json_number_ids_and_unicode_forms_are_one_id(spark, tmp_path) -> None:
    # a JSON export writes a numeric id as 12 in one record and 12.0 in another (a float
    # on the way): two cards for one; 'café' typed on a Mac (NFD) was another merchant
    # than the same word from other systems (NFC)
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    records = [
        {"transaction_id": "t1", "card_id": 12, "merchant_id": nfc},
        {"transaction_id": "t2", "card_id": 12.0, "merchant_id": nfd},
        {"transaction_id": "t3", "card_id": "12", "merchant_id": "m3"},
        {"transaction_id": "t4", "card_id": -7.0, "merchant_id": "m4"},
        {"transaction_id": "t5", "card_id": 12.5, "merchant_id": "m5"},
        {"transaction_id": "t6", "card_id": "c6", "merchant_id": 3.25},
    ]
    lines = "".join(
        json.dumps({**r, "timestamp": "2024-01-05 10:00:00", "amount": 1.5, "label": 0}) + "\n"
        for r in records
    )
    result = _run(spark, tmp_path, {"a.json": lines})
    assert_accounted(spark, result, 6)
    rows = _rows(spark, result)
    assert {k: v["card_id"] for k, v in rows.items()} == {"t1": "12", "t2": "12", "t3": "12",
                                                          "t4": "-7"}  # fmt: skip
    assert rows["t1"]["merchant_id"] == rows["t2"]["merchant_id"] == nfc
    q = _quarantine(spark, result)
    assert q["t5"] == ("inexact_id", "card_id '12.5' is a number with a fraction: an id is "
                       "text or an integer (12 and 12.0 are id 12); deliver ids as text or "
                       "integers")  # fmt: skip
    assert q["t6"][0] == "inexact_id" and q["t6"][1].startswith("merchant_id '3.25' is a number")
