"""Wall clocks in a zone with daylight saving (etl.time_zone), at the edges of its days.

A time in the spring-forward gap (2026-03-08 02:30 in New York: clocks jumped 02:00 ->
03:00) names no instant. Java's rule moved it forward by the gap, onto the instant of a
real 03:30 and after the real 03:20 the file wrote after it, without a word: it is
quarantined as `nonexistent_local_time` now (timestamp or label_time). A time of the
fall-back overlap takes the earlier offset (documented), counted in the report's
`ambiguous_local_times` and named in a WARNING (it was silent). Midnight, the year's end, a leap
day and offsets of :30 and :45 (Kolkata, Chatham) are placed exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraud_app.etl.rules import REASON_CODES
from tests.fraud_app.etl.test_hostile_inputs import _quarantine, _run, assert_accounted
from tests.fraud_app.etl.test_time_zone_exports import _utc

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label,label_time\n"
OPEN = {"max_future_hours": None}  # dates after the test's own clock


def test_new_york_gap_quarantined_overlap_earlier_and_day_edges(spark, tmp_path, caplog) -> None:
    csv = HEADER + (
        "g1,c1,2026-03-08 01:30:00,1,0,\n"  # EST (-5)
        "g2,c1,2026-03-08 02:30:00,1,0,\n"  # in the gap: was 07:30Z, after g3
        "g3,c1,2026-03-08 03:20:00,1,0,\n"  # EDT (-4)
        "o1,c1,2026-11-01 00:50:00,1,0,\n"  # EDT
        "o2,c1,2026-11-01 01:40:00,1,0,\n"  # the repeated hour: the earlier offset (EDT)
        "o3,c1,2026-11-01 02:10:00,1,0,\n"  # EST
        "f1,c1,2026-03-01 10:00:00,1,1,2026-03-08 02:15:00\n"  # label_time in the gap
        "y1,c1,2026-12-31 23:30:00,1,0,\n"  # the next UTC day and year
        "l1,c1,2028-02-29 23:30:00,1,0,\n"
        "l2,c1,2028-02-29T12:00:00,1,0,\n"
        "x1,c1,2026-03-10T09:00:00+05:30,1,0,\n"  # instants beside wall clocks
        "x2,c1,2026-03-10T09:00:00Z,1,0,\n"
        "x3,c1,2026-03-10 09:00:00,1,0,\n"
    )
    result = _run(spark, tmp_path, {"a.csv": csv}, time_zone="America/New_York", bounds=OPEN)
    assert_accounted(spark, result, 13)
    assert _utc(spark, result) == {
        "g1": ("2026-03-08 06:30:00", None, "2026-03-08"),
        "g3": ("2026-03-08 07:20:00", None, "2026-03-08"),
        "o1": ("2026-11-01 04:50:00", None, "2026-11-01"),
        "o2": ("2026-11-01 05:40:00", None, "2026-11-01"),
        "o3": ("2026-11-01 07:10:00", None, "2026-11-01"),
        "y1": ("2027-01-01 04:30:00", None, "2027-01-01"),
        "l1": ("2028-03-01 04:30:00", None, "2028-03-01"),
        "l2": ("2028-02-29 17:00:00", None, "2028-02-29"),
        "x1": ("2026-03-10 03:30:00", None, "2026-03-10"),
        "x2": ("2026-03-10 09:00:00", None, "2026-03-10"),
        "x3": ("2026-03-10 13:00:00", None, "2026-03-10"),
    }
    quarantined = _quarantine(spark, result)
    assert set(quarantined) == {"g2", "f1"}
    assert quarantined["g2"] == (
        "nonexistent_local_time",
        "timestamp '2026-03-08 02:30:00' does not exist in America/New_York (etl.time_zone): "
        "its clocks skipped that time for daylight saving, so the time names no instant; "
        "expected a time the zone's clocks showed, or the time with its UTC offset (e.g. "
        "-05:00) or in UTC",
    )
    assert quarantined["f1"][0] == "nonexistent_local_time"
    assert quarantined["f1"][1].startswith("label_time '2026-03-08 02:15:00' does not exist")
    assert "nonexistent_local_time" in REASON_CODES
    # o2, read an hour early if it was the second 01:40: counted and named, not silent
    assert result.ambiguous_local_times == 1
    assert json.loads(Path(result.report_path).read_text())["ambiguous_local_times"] == 1
    (said,) = [r.getMessage() for r in caplog.records if "happened twice" in r.getMessage()]
    assert said.startswith(
        "ETL: 1 row(s) hold a wall clock that happened twice in America/New_York "
        "(etl.time_zone): its fall-back hour, e.g. the row at 2026-11-01 05:40:00 UTC."
    )


def test_quarter_hour_zones_and_utc_unchanged(spark, tmp_path) -> None:
    csv = HEADER + (
        "c1,c1,2026-06-15 23:30:00,1,0,\n"  # Chatham standard time, +12:45
        "c2,c1,2026-09-27 03:00:00,1,0,\n"  # its gap: 02:45 -> 03:45
        "c3,c1,2026-04-05 03:00:00,1,0,\n"  # its overlap: the earlier offset, +13:45
    )
    result = _run(spark, tmp_path, {"a.csv": csv}, time_zone="Pacific/Chatham")
    assert _utc(spark, result) == {
        "c1": ("2026-06-15 10:45:00", None, "2026-06-15"),
        "c3": ("2026-04-04 13:15:00", None, "2026-04-04"),
    }
    assert _quarantine(spark, result)["c2"][0] == "nonexistent_local_time"
    assert result.ambiguous_local_times == 1  # c3
    csv = HEADER + "k1,c1,2026-06-15 03:00:00,1,0,\n"
    result = _run(spark, tmp_path / "k", {"a.csv": csv}, time_zone="Asia/Kolkata")
    assert _utc(spark, result) == {"k1": ("2026-06-14 21:30:00", None, "2026-06-14")}
    assert result.ambiguous_local_times == 0
    # no zone: the same text is a UTC time, never quarantined for New York's gap
    csv = HEADER + "g2,c1,2026-03-08 02:30:00,1,0,\n"
    result = _run(spark, tmp_path / "u", {"a.csv": csv})
    assert _utc(spark, result) == {"g2": ("2026-03-08 02:30:00", None, "2026-03-08")}


def test_a_labels_feed_quarantines_a_label_time_in_the_gap(
    spark, transactions_published, tmp_path
) -> None:
    from fraud_app.etl.labels import run_labels
    from tests.fraud_app.etl.test_labels_feed import _config, _feed, _labels, _root

    root = _root(transactions_published, tmp_path)  # t1, t3 unlabelled (January)
    feed = _feed(tmp_path, "transaction_id,label,label_time\n"
                           "t1,1,2024-03-10 02:30:00\n"  # New York's gap in 2024
                           "t3,1,2024-03-10 03:30:00\n")  # fmt: skip
    r = run_labels(spark, _config(root, time_zone="America/New_York"), [feed])
    labels = _labels(spark, r)
    assert labels["t3"] == (1, "2024-03-10 07:30:00")
    assert labels["t1"] == (None, None)  # not filled from a time that names no instant
    q = spark.read.parquet(r.quarantine_path).collect()
    assert [(x.raw_transaction_id, x.reason) for x in q] == [("t1", "nonexistent_local_time")]


def test_windows_across_dst_and_midnight_count_elapsed_time(spark, tmp_path) -> None:
    """Wall clocks of a 23 h and a 25 h day: the windows span absolute time (epoch
    microseconds), not the clock difference; the calendar parts are the UTC ones."""
    from fraud_app.features.compile import compute_features
    from fraud_app.features.row_kinds import Calendar
    from fraud_app.features.spec import FeatureSet
    from fraud_app.features.window_kinds import TimeSincePrevious, WindowAggregate

    csv = "transaction_id,card_id,timestamp,amount,label\n" + (
        "g1,cg,2026-03-08 01:30:00,1,0\ng3,cg,2026-03-08 03:20:00,1,0\n"  # 50 min apart
        "d1,cd,2026-03-07 12:00:00,1,0\nd2,cd,2026-03-08 12:30:00,1,0\n"  # 23.5 h
        "x1,cx,2026-10-31 12:00:00,1,0\nx2,cx,2026-11-01 11:30:00,1,0\n"  # 24.5 h
        "n1,cn,2026-03-06 23:30:00,1,0\nn2,cn,2026-03-07 00:10:00,1,1\n"  # over midnight
    )
    result = _run(spark, tmp_path, {"a.csv": csv}, time_zone="America/New_York", bounds=OPEN)
    features = (
        WindowAggregate(aggregation="count", window="1h"),
        WindowAggregate(aggregation="count", window="24h"),
        TimeSincePrevious(cap="30d"),
        Calendar(part="hour_of_day"),
        Calendar(part="is_weekend"),
    )
    fs = FeatureSet(features=features, label_delay_s=86_400)
    canonical = spark.read.parquet(result.output_path)
    table = compute_features(canonical, fs, vector_column=None, skip_all_null=False).df
    got = {r["transaction_id"]: tuple(r[f.name] for f in features) for r in table.collect()}
    month = 30 * 86_400.0
    assert got == {
        "g1": (0.0, 0.0, month, 6.0, 1.0),
        "g3": (1.0, 1.0, 3_000.0, 7.0, 1.0),
        "d1": (0.0, 0.0, month, 17.0, 1.0),
        "d2": (0.0, 1.0, 84_600.0, 16.0, 1.0),
        "x1": (0.0, 0.0, month, 16.0, 1.0),
        "x2": (0.0, 0.0, 88_200.0, 16.0, 1.0),
        "n1": (0.0, 0.0, month, 4.0, 1.0),  # Friday 23:30 in New York, Saturday in UTC
        "n2": (1.0, 1.0, 2_400.0, 5.0, 1.0),
    }
