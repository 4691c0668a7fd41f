"""Times written as offsets from the start of the data, as public fraud data sets give them:
PaySim's `step` (hours), IEEE-CIS's `TransactionDT` and ULB's `Time` (seconds).
`etl.timestamp_format: offset_hours | offset_seconds` reads them after
`etl.timestamp_origin` (session 52; before, the only way was to rewrite the export: an epoch
format refused them, a pattern could not read them). Every run's records are accounted for."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.report_readings import check_time_reading
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
        "2017-12-01T00:00:00 (etl.timestamp_format 'offset_hours': within 1e11 seconds, "
        "~3,000 years, either way)",
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


def test_an_origin_with_its_offset_is_that_instant_in_utc(tmp_path) -> None:
    # session 53: `Z` (and any offset) was refused as "carries an offset"; the instant is
    # exact, so it is read in UTC, and recorded as a time without an offset is
    for origin, utc in (("1970-01-01T00:00:00Z", dt.datetime(1970, 1, 1)),
                        ("2017-12-01T02:00:00+02:00", dt.datetime(2017, 12, 1)),
                        ("2017-11-30T19:00:00-05:00", dt.datetime(2017, 12, 1))):  # fmt: skip
        etl = _config(tmp_path, timestamp_format="offset_hours", timestamp_origin=origin).etl
        assert etl.timestamp_origin == utc and etl.timestamp_origin.tzinfo is None
        assert etl.time_reading()["timestamp_origin"] == utc.isoformat()


@pytest.mark.spark
def test_offsets_are_read_with_the_decimal_separator(spark, tmp_path) -> None:
    # review52a: under etl.decimal_separator ',' an offset '86.400' (thousands grouped, as
    # such exports write them) was read as 86.4 seconds and published without a word, and
    # '86401,25' was refused; they are read as the amounts are
    csv = (
        "id;card;dt;amt;y\n"
        "t1;c;86.400;1,5;0\n"
        "t2;c;86401,25;2,0;0\n"
        "t3;c;1.5;2,0;0\n"  # a decimal point under ',': refused, named
    )
    columns = {"transaction_id": "id", "card_id": "card", "timestamp": "dt", "amount": "amt",
               "label": "y"}  # fmt: skip
    result = _run(
        spark, tmp_path, csv, columns=columns, csv_delimiter=";", decimal_separator=",",
        timestamp_format="offset_seconds", timestamp_origin=ORIGIN,
    )  # fmt: skip
    assert_accounted(spark, result, 3)
    times = {t: r["timestamp"] for t, r in _rows(spark, result).items()}
    assert times == {
        "t1": dt.datetime(2017, 12, 2),
        "t2": dt.datetime(2017, 12, 2, 0, 0, 1, 250000),
    }
    assert result.time_reading == {"timestamp": "offset_seconds", "label_time": "offset_seconds",
                                   "timestamp_origin": ORIGIN, "time_zone": None}  # fmt: skip
    assert _quarantine(spark, result, "id")["t3"] == (
        "unparseable_timestamp",
        "timestamp '1.5' is not a number of seconds after etl.timestamp_origin "
        "2017-12-01T00:00:00 (etl.timestamp_format 'offset_seconds': within 1e11 seconds, "
        "~3,000 years, either way); it looks like a decimal point: set "
        "etl.decimal_separator: '.'",
    )


def test_an_append_reading_offsets_after_another_origin_is_named(tmp_path, caplog) -> None:
    # review52a: etl.timestamp_origin changed between two appends (corrected, or typed
    # anew) made the same offset another instant, the new rows shifted against the
    # published ones, without a word; the report's `time_reading` records it, as
    # `amount_reading` records the amount settings
    cfg = _config(tmp_path, timestamp_format="offset_hours", timestamp_origin=ORIGIN).etl
    before = {"time_reading": {"timestamp": "offset_hours", "label_time": "offset_hours",
                               "timestamp_origin": "2017-11-30T00:00:00"}}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.pipeline"):
        check_time_reading(before, cfg, "/t/canonical")
        check_time_reading({"time_reading": cfg.time_reading()}, cfg, "/t/canonical")  # same
        check_time_reading({"amount_reading": {}}, cfg, "/t/canonical")  # before session 52
        check_time_reading(before, cfg, "/t/canonical", ("label_time",))  # a labels feed
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert said[0].startswith(
        "ETL: this run on /t/canonical reads timestamp as offset_hours after "
        "2017-12-01T00:00:00 (the run before: offset_hours after 2017-11-30T00:00:00); "
        "label_time as offset_hours after 2017-12-01T00:00:00"
    )
    assert said[1].startswith("ETL: this run on /t/canonical reads label_time as offset_hours")
    iso = _config(tmp_path, label_time_format="iso8601", timestamp_format="offset_seconds",
                  timestamp_origin=ORIGIN).etl  # fmt: skip
    assert iso.time_reading() == {"timestamp": "offset_seconds", "label_time": "iso8601",
                                  "timestamp_origin": ORIGIN, "time_zone": None}  # fmt: skip


def test_an_append_reading_wall_clock_times_in_another_zone_is_named(tmp_path, caplog) -> None:
    # review52a's Left: etl.time_zone changed between two appends (or between the ETL and a
    # labels feed) made the same local time another instant, the new rows shifted against
    # the published ones, without a word; `time_reading` records the zone now
    cfg = _config(tmp_path, time_zone="America/New_York").etl
    assert cfg.time_reading()["time_zone"] == "America/New_York"
    utc = {"time_reading": {"timestamp": None, "label_time": None, "timestamp_origin": None,
                            "time_zone": None}}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.pipeline"):
        check_time_reading(utc, cfg, "/t/canonical")
        check_time_reading({"time_reading": cfg.time_reading()}, cfg, "/t/canonical")  # same
        old = {"time_reading": {k: v for k, v in utc["time_reading"].items() if k != "time_zone"}}
        check_time_reading(old, cfg, "/t/canonical")  # a report before the zone was recorded
        check_time_reading(utc, cfg, "/t/canonical", ("label_time",))  # a labels feed
        epochs = _config(tmp_path, time_zone="Europe/Paris", timestamp_format="epoch_seconds").etl
        check_time_reading(utc, epochs, "/t/canonical")  # instants: the zone moves nothing
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2, said
    assert said[0].startswith(
        "ETL: this run on /t/canonical reads the wall-clock times of timestamp and label_time "
        "(written without an offset or zone) in etl.time_zone America/New_York; the table's "
        "last run read them in UTC (not set)"
    )
    assert "wall-clock times of label_time (" in said[1]


@pytest.mark.spark
def test_a_labels_feed_reads_offsets_and_names_another_origin(spark, tmp_path, caplog) -> None:
    # the `labels` feed reads label_time as the ETL does; a feed read after another origin
    # than the table's ETL run is named (review52a: its label times were shifted silently)
    csv = "id,card,step,y,amount\nt1,c1,1,,1.0\nt2,c1,2,,1.0\n"  # unlabelled
    columns = {"transaction_id": "id", "card_id": "card", "timestamp": "step", "label": "y"}
    result = _run(spark, tmp_path, csv, columns=columns, timestamp_format="offset_hours",
                  timestamp_origin=ORIGIN)  # fmt: skip
    assert result.output_rows == 2
    feed = tmp_path / "feed.csv"
    feed.write_text("id,y,known\nt1,1,30\n")
    root = str(tmp_path / "work")
    config = load_config(None, {"paths.root": root, "etl": {
        "columns": {**columns, "label_time": "known"}, "timestamp_format": "offset_hours",
        "timestamp_origin": "2017-12-02T00:00:00"}})  # fmt: skip
    with caplog.at_level(logging.WARNING):
        labelled = run_labels(spark, config, [str(feed)])
    rows = {r.transaction_id: r for r in spark.read.parquet(labelled.output_path).collect()}
    assert rows["t1"].label == 1
    assert rows["t1"].label_time == dt.datetime(2017, 12, 3, 6)  # the feed's origin + 30 h
    said = [r.getMessage() for r in caplog.records if "reads label_time as" in r.getMessage()]
    assert said == [
        f"ETL: this run on {labelled.output_path.rstrip('/')} reads label_time as offset_hours "
        "after 2017-12-02T00:00:00 (the run before: offset_hours after 2017-12-01T00:00:00): "
        "an offset of this delivery is another instant than the same offset of the published "
        "rows. If each delivery counts from its own start, that is right; if "
        "etl.timestamp_origin or the format was corrected, rebuild the table with it "
        "(etl.mode: replace over every delivery, then the labels feeds again); else put the "
        "earlier setting back"
    ], caplog.text
