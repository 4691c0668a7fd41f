"""Exports of local wall-clock times (a system that writes '2025-03-08 23:30:00' in New
York's time, no offset): `etl.time_zone` places them; without it they were read as UTC,
every transaction 4-5 h early (its event_date a day off near midnight) without a word, and
no setting could say otherwise. Times that carry their offset, epoch numbers and
zone-aware Parquet columns are instants and never move; naive Parquet columns (pandas'
datetime64 without a zone, nanoseconds or microseconds) are wall clocks and do."""

from __future__ import annotations

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _rows, _run, assert_accounted

pytestmark = pytest.mark.spark

NY = "America/New_York"


def _utc(spark, result) -> dict[str, tuple[str, str | None, str]]:
    rows = _rows(spark, result)
    return {
        i: (str(r["timestamp"]), r["label_time"] and str(r["label_time"]), str(r["event_date"]))
        for i, r in rows.items()
    }


def test_wall_clocks_in_a_named_zone_are_converted_to_utc(spark, tmp_path) -> None:
    csv = (
        "transaction_id,card_id,timestamp,amount,label,label_time\n"
        "t1,c1,2025-03-08 23:30:00,1.5,0,\n"  # EST (-5): the next UTC day
        "t2,c1,2025-03-10T09:00:00,2.5,1,2025-03-12 08:00:00\n"  # EDT (-4) after the DST change
        "t3,c1,2025-03-10T09:00:00Z,3.5,0,\n"  # an offset: an instant, never moved
        "t4,c1,2025-03-10T09:00:00+01:00,4.5,0,\n"
        "t5,c1,2025-03-09 02:30:00,5.5,0,\n"  # inside the spring-forward gap: no instant
    )
    result = _run(spark, tmp_path, {"a.csv": csv}, time_zone=NY)
    assert_accounted(spark, result, 5)
    assert _utc(spark, result) == {
        "t1": ("2025-03-09 04:30:00", None, "2025-03-09"),
        "t2": ("2025-03-10 13:00:00", "2025-03-12 12:00:00", "2025-03-10"),
        "t3": ("2025-03-10 09:00:00", None, "2025-03-10"),
        "t4": ("2025-03-10 08:00:00", None, "2025-03-10"),
    }
    assert _quarantine(spark, result)["t5"][0] == "nonexistent_local_time"  # test_local_time_dst
    # unset: the documented UTC reading, unchanged
    result = _run(spark, tmp_path / "utc", {"a.csv": csv})
    assert _utc(spark, result)["t1"] == ("2025-03-08 23:30:00", None, "2025-03-08")


def test_a_pattern_places_wall_clocks_unless_it_reads_a_zone(spark, tmp_path) -> None:
    csv = "transaction_id,card_id,timestamp,amount,label\nt1,c1,03/08/2025 23:30,1.5,0\n"
    result = _run(spark, tmp_path, {"a.csv": csv}, time_zone=NY,
                  timestamp_format="MM/dd/yyyy HH:mm")  # fmt: skip
    assert _utc(spark, result)["t1"][0] == "2025-03-09 04:30:00"
    csv = "transaction_id,card_id,timestamp,amount,label\nt1,c1,2025-03-08 23:30 +0100,1.5,0\n"
    result = _run(spark, tmp_path / "z", {"a.csv": csv}, time_zone=NY,
                  timestamp_format="yyyy-MM-dd HH:mm Z")  # fmt: skip
    assert _utc(spark, result)["t1"][0] == "2025-03-08 22:30:00"
    csv = "transaction_id,card_id,timestamp,amount,label\nt1,c1,1741476600,1.5,0\n"
    result = _run(spark, tmp_path / "e", {"a.csv": csv}, time_zone=NY,
                  timestamp_format="epoch_seconds")  # fmt: skip
    assert _utc(spark, result)["t1"][0] == "2025-03-08 23:30:00"  # an epoch is an instant


def test_naive_parquet_columns_are_wall_clocks_and_aware_ones_instants(spark, tmp_path) -> None:
    local = pd.Timestamp("2025-03-08 23:30:00")
    frame = pd.DataFrame({
        "transaction_id": ["t1"], "card_id": ["c1"], "amount": [1.5], "label": [0],
        "timestamp": pd.Series([local], dtype="datetime64[ns]"),
    })  # fmt: skip
    micros = frame.assign(timestamp=frame.timestamp.astype("datetime64[us]"))
    aware = frame.assign(timestamp=frame.timestamp.dt.tz_localize("UTC"))
    for name, df, expected in [
        ("ns", frame, "2025-03-09 04:30:00"),
        ("us", micros, "2025-03-09 04:30:00"),
        ("aware", aware, "2025-03-08 23:30:00"),
    ]:
        kwargs = {"coerce_timestamps": "us"} if name == "us" else {}
        path = tmp_path / name / "in" / "a.parquet"
        path.parent.mkdir(parents=True)
        df.to_parquet(path, index=False, **kwargs)
        config = load_config(None, {"paths.root": str(tmp_path / name / "work"),
                                    "etl": {"input": str(path.parent), "time_zone": NY}})  # fmt: skip
        result = run_etl(spark, config)
        assert_accounted(spark, result, 1)
        assert _utc(spark, result)["t1"][0] == expected, name


def test_an_unknown_zone_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"etl.time_zone: 'America/New York' is not a zone"):
        load_config(None, {"etl.time_zone": "America/New York"})
    with pytest.raises(
        ConfigError, match=r"'Mars/Base' is not a known time zone; expected an IANA"
    ):
        load_config(None, {"etl.time_zone": "Mars/Base"})
