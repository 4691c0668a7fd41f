"""Times written as offsets from the start of the data, as public fraud data sets give them:
PaySim's `step` (hours), IEEE-CIS's `TransactionDT` and ULB's `Time` (seconds).
`etl.timestamp_format: offset_hours | offset_seconds` reads them after
`etl.timestamp_origin` (session 52; before, the only way was to rewrite the export: an epoch
format refused them, a pattern could not read them). Every run's records are accounted for."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_hostile_inputs import _rows, assert_accounted

ORIGIN = "2017-12-01T00:00:00"


def _config(tmp_path, **etl):
    return load_config(
        None, {"paths.root": str(tmp_path / "work"), "etl": {"input": str(tmp_path / "in"), **etl}}
    )


def _quarantine(spark, result, id_column: str) -> dict[str, tuple[str, str]]:
    q = spark.read.parquet(result.quarantine_path).collect()
    return {r[f"raw_{id_column}"]: (r.reason, r.reason_detail) for r in q}


def _run(spark, tmp_path, csv: str, **etl):
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    (tmp_path / "in" / "a.csv").write_text(csv)
    return run_etl(spark, _config(tmp_path, **etl))


@pytest.mark.spark
def test_paysim_hour_steps_are_hours_after_the_origin(spark, tmp_path) -> None:
    csv = (
        "nameOrig,step,amount,isFraud,id\n"
        "C1,1,10.0,0,t1\n"
        "C1,743,12.5,1,t2\n"
        "C2,24.5,3.0,0,t3\n"  # a fraction of an hour: 30 minutes
        "C2,-2,3.0,0,t4\n"  # before the origin
        "C3,step9,3.0,0,t5\n"  # not a number: quarantined, named
        "C3,,3.0,0,t6\n"
    )
    columns = {"transaction_id": "id", "card_id": "nameOrig", "timestamp": "step",
               "label": "isFraud"}  # fmt: skip
    result = _run(
        spark, tmp_path, csv, columns=columns, timestamp_format="offset_hours",
        timestamp_origin=ORIGIN, time_zone="America/New_York",  # offsets are instants
    )  # fmt: skip
    assert_accounted(spark, result, 6)
    times = {t: r["timestamp"] for t, r in _rows(spark, result).items()}
    origin = dt.datetime(2017, 12, 1)
    assert times == {
        "t1": origin + dt.timedelta(hours=1),
        "t2": origin + dt.timedelta(hours=743),
        "t3": origin + dt.timedelta(hours=24, minutes=30),
        "t4": origin - dt.timedelta(hours=2),
    }
    q = _quarantine(spark, result, "id")
    assert q["t5"] == (
        "unparseable_timestamp",
        "timestamp 'step9' is not a number of hours after etl.timestamp_origin "
        "2017-12-01T00:00:00 (etl.timestamp_format 'offset_hours')",
    )
    assert q["t6"][0] == "missing_required_field"


@pytest.mark.spark
def test_ieee_transaction_dt_seconds_and_an_offset_label_time(spark, tmp_path) -> None:
    csv = (
        "TransactionID,card1,TransactionDT,TransactionAmt,isFraud,label_at\n"
        "2987000,13926,86400,68.5,0,2017-12-20\n"
        "2987001,2755,86401.25,29.0,1,2017-12-20T10:00:00Z\n"
        "2987002,4663,1e20,59.0,0,\n"  # 3e12 years: beyond any bound, not an overflow
    )
    columns = {"transaction_id": "TransactionID", "card_id": "card1", "label": "isFraud",
               "timestamp": "TransactionDT", "amount": "TransactionAmt",
               "label_time": "label_at"}  # fmt: skip
    result = _run(
        spark, tmp_path, csv, columns=columns, timestamp_format="offset_seconds",
        label_time_format="iso8601", timestamp_origin=ORIGIN,
    )  # fmt: skip
    assert_accounted(spark, result, 3)
    rows = _rows(spark, result)
    assert rows["2987000"]["timestamp"] == dt.datetime(2017, 12, 2)
    assert rows["2987001"]["timestamp"] == dt.datetime(2017, 12, 2, 0, 0, 1, 250000)
    assert rows["2987001"]["label_time"] == dt.datetime(2017, 12, 20, 10)
    assert _quarantine(spark, result, "TransactionID")["2987002"][0] == "unparseable_timestamp"


def test_an_offset_format_needs_its_origin(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"etl.timestamp_format 'offset_hours' counts from "
                       r"etl.timestamp_origin, which is not set"):  # fmt: skip
        _config(tmp_path, timestamp_format="offset_hours")
    with pytest.raises(ConfigError, match=r"etl.label_time_format 'offset_seconds' counts from"):
        _config(tmp_path, label_time_format="offset_seconds")


def test_an_origin_without_an_offset_format_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"etl.timestamp_origin is set \(2017-12-01T00:00:00\) "
                       r"but neither etl.timestamp_format nor etl.label_time_format is"):  # fmt: skip
        _config(tmp_path, timestamp_format="epoch_seconds", timestamp_origin=ORIGIN)
    with pytest.raises(ConfigError, match=r"etl.timestamp_origin .* carries an offset"):
        _config(tmp_path, timestamp_format="offset_hours",
                timestamp_origin="2017-12-01T00:00:00+02:00")  # fmt: skip
