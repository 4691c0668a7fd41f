"""Code columns (mcc, country, card_country) delivered as numbers: a CSV `5812.0`, a JSON
number 5812 or 5812.0, a Parquet double, integer or DECIMAL(10, 2) `5812.00`, an MCC
`0742` that an integer column wrote as 742. Each is ONE code whichever way it arrived
(session 53: the DECIMAL's `5812.00`, the CSV's `5812.0` and 742 were codes of their own
beside `5812` and `0742`, so the frequency and target encodings split one merchant
category in two, without a word). A number that is no integer (`5812.5`, `5.812E3`) is
quarantined as `inexact_code`; a double id beyond 2^63 is quarantined (`inexact_id`), not
an ARITHMETIC_OVERFLOW traceback."""

from __future__ import annotations

import decimal
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

D = decimal.Decimal
HEAD = {"timestamp": "2025-03-01 10:00:00", "amount": 1.5, "label": 0}


def _parquet(tmp_path, name: str, table: pa.Table):
    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _table(ids: list[str], card_id, mcc, country) -> pa.Table:
    n = len(ids)
    return pa.table({
        "transaction_id": ids, "card_id": card_id, "timestamp": [HEAD["timestamp"]] * n,
        "amount": [1.5] * n, "label": [0] * n, "mcc": mcc, "country": country,
    })  # fmt: skip


def test_a_code_is_one_value_whichever_way_it_arrived(spark, tmp_path) -> None:
    csv = (
        "transaction_id,card_id,timestamp,amount,label,mcc,country,card_country\n"
        "c1,k1,2025-03-01 10:00:00,1.5,0,5812.0,840.0,036\n"
        "c2,k1,2025-03-01 10:00:00,1.5,0,0742,US,36\n"
        "c3,k1,2025-03-01 10:00:00,1.5,0,5812.5,US,US\n"  # no integer: quarantined
        "c4,k1,2025-03-01 10:00:00,1.5,0,5812,5.0E2,US\n"  # scientific: quarantined
        "c5,k1,2025-03-01 10:00:00,1.5,0,58120,AB12,US\n"  # longer than 4 digits: as is
    )
    js = [{"transaction_id": "j1", "card_id": "k1", **HEAD, "mcc": 5812, "country": 840},
          {"transaction_id": "j2", "card_id": "k1", **HEAD, "mcc": 5812.0, "country": "840"},
          {"transaction_id": "j3", "card_id": "k1", **HEAD, "mcc": 742}]  # fmt: skip
    # each format on its own run: one delivery's reader reads one format
    first = _run(spark, tmp_path / "csv", {"a.csv": csv})
    lines = "\n".join(json.dumps(r) for r in js) + "\n"
    second = _run(spark, tmp_path / "json", {"b.json": lines}, format="json")
    _parquet(tmp_path / "pq", "a.parquet", _table(
        ["p1", "p2", "p3"], pa.array([12345.0, 7.0, 7.0]),
        pa.array([D("5812.00"), D("742.00"), D("5812.50")], pa.decimal128(10, 2)),
        pa.array([840.0, 36.0, 840.0]),
    ))  # fmt: skip
    _parquet(tmp_path / "pq", "b.parquet", _table(
        ["p4"], pa.array([12345], pa.int64()), pa.array([742], pa.int16()), pa.array([840])
    ))  # fmt: skip
    third = _run(spark, tmp_path / "pq", {}, format="parquet")
    assert_accounted(spark, first, 5)
    assert_accounted(spark, second, 3)
    assert_accounted(spark, third, 4)
    codes = {}
    for result in (first, second, third):
        codes.update({t: (r["mcc"], r["country"], r["card_country"])
                      for t, r in _rows(spark, result).items()})  # fmt: skip
    # the countries' numeric codes then published as alpha-2 (probe54a: 840 = US, 036 = AU)
    assert codes == {
        "c1": ("5812", "US", "AU"), "c2": ("0742", "US", "AU"), "c5": ("58120", "AB12", "US"),
        "j1": ("5812", "US", None), "j2": ("5812", "US", None), "j3": ("0742", None, None),
        "p1": ("5812", "US", None), "p2": ("0742", "AU", None), "p4": ("0742", "US", None),
    }  # fmt: skip
    quarantined = {**_quarantine(spark, first), **_quarantine(spark, third)}
    assert {t: reason for t, (reason, _) in quarantined.items()} == {
        "c3": "inexact_code", "c4": "inexact_code", "p3": "inexact_code",
    }  # fmt: skip
    assert quarantined["c3"][1].startswith("mcc '5812.5' is a number that is no integer")
    assert quarantined["c4"][1].startswith("country '5.0E2' is a number that is no integer")
    assert "deliver codes as text or integers" in quarantined["p3"][1]


def test_a_double_id_beyond_2_63_is_quarantined_not_a_crash(spark, tmp_path) -> None:
    """A Parquet double card_id 1e20: the float-to-integer test (`number_text`) overflowed
    Spark's long under ANSI and the run stopped on an ARITHMETIC_OVERFLOW traceback."""
    _parquet(tmp_path, "a.parquet", _table(
        ["p1", "p2"], pa.array([1e20, 12345.0]), pa.array(["5812", "5812"]), ["US", "US"]
    ))  # fmt: skip
    result = _run(spark, tmp_path, {}, format="parquet")
    assert_accounted(spark, result, 2)
    assert {t: r["card_id"] for t, r in _rows(spark, result).items()} == {"p2": "12345"}
    ((reason, detail),) = _quarantine(spark, result).values()
    assert reason == "inexact_id"
    assert detail.startswith("card_id '1.0E20' is a number in scientific notation")
