"""Calendar features on a bank's local clock (`time_zone` on a calendar spec).

The parts of an instant on an IANA zone's wall clock, DST and half-hour offsets included,
whatever the Spark session's own zone; the UTC parts (no `time_zone`) unchanged; a model
trained before the option existed keeps its stored definitions.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from fraud_app.errors import FeatureSpecError
from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet, definitions, diff_definitions, parse_spec
from tests.fraud_app.features.canonical_data import frame

SPEC = """
version: 1
features:
  - {kind: calendar, parts: [hour_of_day, day_of_week, is_weekend]}
  - {kind: calendar, parts: [hour_of_day, day_of_week, is_weekend], time_zone: America/New_York}
"""
NY = zoneinfo.ZoneInfo("America/New_York")
UTC = dt.UTC
INSTANTS = [
    dt.datetime(2024, 3, 10, 6, 59, 59, tzinfo=UTC),  # 01:59:59 EST, the last before the gap
    dt.datetime(2024, 3, 10, 7, 0, 0, tzinfo=UTC),  # 03:00 EDT: the clock jumped an hour
    dt.datetime(2024, 11, 3, 5, 30, tzinfo=UTC),  # 01:30 EDT, the first pass of the hour
    dt.datetime(2024, 11, 3, 6, 30, tzinfo=UTC),  # 01:30 EST, its second pass
    dt.datetime(2024, 3, 9, 4, 30, tzinfo=UTC),  # Friday 23:30 EST: a Saturday in UTC
    dt.datetime(2024, 3, 11, 3, 59, tzinfo=UTC),  # Sunday 23:59 EDT: a Monday in UTC
    dt.datetime(1969, 12, 31, 23, 0, tzinfo=UTC),  # before the epoch: negative micros
]


def _rows():
    return [
        (f"t{i}", "c1", "m1", t, 10.0, 0, None, "5411", "pos", "US", "US", "d1")
        for i, t in enumerate(INSTANTS)
    ]


def _features() -> FeatureSet:
    return FeatureSet(features=tuple(s.feature for s in parse_spec(SPEC, source="t")),
                      label_delay_s=0)  # fmt: skip


def _parts(t: dt.datetime) -> dict[str, float]:
    return {
        "hour_of_day": float(t.hour),
        "day_of_week": float(t.weekday()),
        "is_weekend": float(t.weekday() >= 5),
    }


@pytest.mark.spark
@pytest.mark.parametrize("session_zone", ["UTC", "Asia/Tokyo"])
def test_local_parts_follow_the_zones_clock_whatever_the_sessions_zone(spark, session_zone):
    fs = _features()
    assert list(fs.names) == [
        "hour_of_day", "day_of_week", "is_weekend",
        "hour_of_day_local", "day_of_week_local", "is_weekend_local",
    ]  # fmt: skip
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", session_zone)
    try:
        got = {
            r["transaction_id"]: r.asDict()
            for r in compute_features(frame(spark, _rows()), fs).df.collect()
        }
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)
    for i, t in enumerate(INSTANTS):
        row = got[f"t{i}"]
        utc, local = _parts(t.astimezone(UTC)), _parts(t.astimezone(NY))
        assert {k: row[k] for k in utc} == utc, (t, row)
        assert {k: row[f"{k}_local"] for k in local} == local, (t, row)
    # the two passes of 01:30 on 2024-11-03 read the same local hour, an hour apart in UTC
    assert got["t2"]["hour_of_day_local"] == got["t3"]["hour_of_day_local"] == 1.0
    assert got["t2"]["hour_of_day"] == 5.0 and got["t3"]["hour_of_day"] == 6.0
    # Friday 23:30 in New York is no weekend there, but a Saturday in UTC
    assert (got["t4"]["is_weekend_local"], got["t4"]["is_weekend"]) == (0.0, 1.0)


@pytest.mark.parametrize("zone", ["America/NewYork", "EST5", "../etc/passwd", ""])
def test_an_unknown_zone_is_refused_naming_the_file_and_what_is_expected(zone):
    spec = (
        f"version: 1\nfeatures:\n  - {{kind: calendar, part: hour_of_day, time_zone: {zone!r}}}\n"
    )
    with pytest.raises(FeatureSpecError) as info:
        parse_spec(spec, source="specs/time.yaml")
    text = str(info.value)
    assert "specs/time.yaml" in text and "time_zone" in text
    assert "expected an IANA zone name" in text


def test_a_model_stored_before_the_option_keeps_its_calendar_definitions():
    fs = _features()
    utc_names = ["hour_of_day", "day_of_week", "is_weekend"]
    now = definitions(fs, utc_names)
    assert all(d["time_zone"] is None for d in now.values())
    stored = {n: {k: v for k, v in d.items() if k != "time_zone"} for n, d in now.items()}
    assert diff_definitions(stored, now) == {}  # an older model: no key, the same feature
    moved = {n: {**d, "time_zone": "Europe/Berlin"} for n, d in now.items()}
    assert set(diff_definitions(stored, moved)) == set(utc_names)
