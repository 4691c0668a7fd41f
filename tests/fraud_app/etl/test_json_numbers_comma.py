"""JSON numbers under `etl.decimal_separator: ','` (session 53). Spark reads every JSON
value as text (primitivesAsString), and a JSON number's text is Java's, always with a
'.': under ',' the amount 1.234 (a 3-decimal currency, KWD) was read as 1234 without a
word, and 12.5 or an offset 86401.25 was quarantined as "not a number". An amount or
offset column whose every value is a JSON number is now read as numbers; text values
keep the comma reading."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

pytestmark = pytest.mark.spark


def _lines(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def test_json_number_amounts_and_offsets_are_numbers_under_a_decimal_comma(spark, tmp_path):
    records = [
        {"transaction_id": "t1", "card_id": "c1", "t": 86401.25, "amount": 1.234, "label": 0},
        {"transaction_id": "t2", "card_id": "c1", "t": 3600, "amount": 12.5, "label": 0},
        {"transaction_id": "t3", "card_id": "c2", "t": 7200.5, "amount": 1234, "label": 1},
        {"transaction_id": "t4", "card_id": "c2", "t": 60, "amount": 1.234, "label": 0},
    ]
    result = _run(
        spark, tmp_path, {"a.json": _lines(records)}, format="json", decimal_separator=",",
        columns={"timestamp": "t"}, timestamp_format="offset_seconds",
        timestamp_origin="2017-12-01T00:00:00",
    )  # fmt: skip
    assert_accounted(spark, result, 4)
    origin = dt.datetime(2017, 12, 1)
    got = {t: (r["timestamp"], r["amount"]) for t, r in _rows(spark, result).items()}
    assert got == {
        "t1": (origin + dt.timedelta(seconds=86401.25), 1.234),
        "t2": (origin + dt.timedelta(hours=1), 12.5),
        "t3": (origin + dt.timedelta(seconds=7200.5), 1234.0),
        "t4": (origin + dt.timedelta(minutes=1), 1.234),  # was 1234.0: '1.234' read as grouped
    }


def test_json_text_amounts_keep_the_comma_reading(spark, tmp_path):
    # a column holding text (here beside a number) is read as text, as written: '1.234,5'
    # is 1234.5, and the number 12.5 (text '12.5') is refused with the hint
    records = [
        {"transaction_id": "t1", "card_id": "c1", "timestamp": "2025-03-01 10:00:00",
         "amount": "1.234,5", "label": 0},
        {"transaction_id": "t2", "card_id": "c1", "timestamp": "2025-03-01 10:00:00",
         "amount": 12.5, "label": 0},
    ]  # fmt: skip
    result = _run(spark, tmp_path, {"a.json": _lines(records)}, format="json",
                  decimal_separator=",")  # fmt: skip
    assert_accounted(spark, result, 2)
    assert {t: r["amount"] for t, r in _rows(spark, result).items()} == {"t1": 1234.5}
    reason, detail = _quarantine(spark, result)["t2"]
    assert reason == "non_numeric_amount" and "decimal_separator" in detail
