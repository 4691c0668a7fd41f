"""Ids an export wrote through a float: pandas writes an id column with a gap (one missing
card) as float64, and `to_csv` / `to_json` write each value's repr, '9100000000000808.0'.
At or beyond 2^53 a double no longer holds every integer, so cards 9100000000000807 and
9100000000000808 were both written '9100000000000808.0', read as id '9100000000000808'
(an integral decimal is its integer) and published as ONE card, without a word. They are
quarantined as `inexact_id`; below 2^53 the float is exact and the id is its integer.
(JSON numbers need nothing new: Spark reads a JSON float as a double and writes its text
in scientific notation, 9.100000000000808E15, which `inexact_id` already refused.)"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

CARDS = [9100000000000807, 9100000000000808, 4111111111111111, None]


def _export() -> pd.DataFrame:
    card = pd.Series(CARDS, dtype="float64")  # the gap makes the column float64
    return pd.DataFrame({
        "transaction_id": ["t1", "t2", "t3", "t4"], "card_id": card,
        "timestamp": ["2025-03-01 10:00:00"] * 4, "amount": [1.5, 2.5, 3.5, 4.5],
        "label": [0, 1, 0, 0],
    })  # fmt: skip


def _check(spark, result) -> None:
    assert_accounted(spark, result, 4)
    rows = _rows(spark, result)
    assert {i: r["card_id"] for i, r in rows.items()} == {"t3": "4111111111111111"}
    quarantined = _quarantine(spark, result)
    assert {i: reason for i, (reason, _) in quarantined.items()} == {
        "t1": "inexact_id", "t2": "inexact_id", "t4": "missing_required_field",
    }  # fmt: skip
    detail = quarantined["t1"][1]
    assert detail.startswith("card_id '9100000000000808.0' is an integer written as a float")
    assert "2^53 = 9007199254740992" in detail and "deliver ids as text or integers" in detail


def test_a_csv_card_column_written_as_float_beyond_2_53_is_quarantined(spark, tmp_path) -> None:
    buf = io.StringIO()
    _export().to_csv(buf, index=False)
    assert buf.getvalue().count("9100000000000808.0,") == 2  # two cards, one text
    _check(spark, _run(spark, tmp_path, {"a.csv": buf.getvalue()}))


def test_integer_ids_beyond_2_53_and_exact_float_ids_are_kept(spark, tmp_path) -> None:
    csv = (
        "transaction_id,card_id,timestamp,amount,label\n"
        "t1,9100000000000807,2025-03-01 10:00:00,1.5,0\n"  # written as an integer: exact
        "t2,9100000000000808,2025-03-01 10:00:00,1.5,0\n"
        "t3,4111111111111111.0,2025-03-01 10:00:00,1.5,0\n"  # below 2^53: the float is exact
        "t4,12.0,2025-03-01 10:00:00,1.5,0\n"
    )
    result = _run(spark, tmp_path, {"a.csv": csv})
    assert_accounted(spark, result, 4)
    assert {i: r["card_id"] for i, r in _rows(spark, result).items()} == {
        "t1": "9100000000000807", "t2": "9100000000000808", "t3": "4111111111111111", "t4": "12",
    }  # fmt: skip
    # int64 Parquet ids beyond 2^53 stay exact
    frame = pd.DataFrame({"transaction_id": ["p1", "p2"],
                          "card_id": np.array([9100000000000807, 9100000000000808], dtype=np.int64),
                          "timestamp": ["2025-03-01 10:00:00"] * 2, "amount": [1.5, 2.5],
                          "label": [0, 1]})  # fmt: skip
    result = _run(spark, tmp_path / "pq", {"a.parquet": frame})
    assert {i: r["card_id"] for i, r in _rows(spark, result).items()} == {
        "p1": "9100000000000807", "p2": "9100000000000808",
    }  # fmt: skip
