"""A label_time of day resolution written as midnight timestamps (probe54a): a chargeback
system that keeps the day a label arrived and exports it as `2024-03-05 00:00:00` says
the label was known up to a day before it was. The ETL published it without a word: the
card's earlier transactions of that day counted the fraud in their fraud-rate features
(a leak), and a fraud of that same day was quarantined as `label_time_before_timestamp`.
The report records `label_time_resolution` (probe54a), and since review54a a delivery
whose every label_time is a whole day has its midnights read as the END of their day, as
a date alone has been since review51c: in the ETL and in a `fraud-app labels` feed,
counted in the report (`label_times_read_as_day_end`) and said in one line."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from tests.fraud_app.etl.test_hostile_inputs import _rows, _run, assert_accounted

pytestmark = pytest.mark.spark


def _csv(label_time: str) -> str:
    lines = ["transaction_id,card_id,timestamp,amount,label,label_time"]
    # a fraud whose label arrived on the same day it happened, after it
    lines.append(f"s1,c1,2024-03-05 10:00:00,1.5,1,{label_time.format(day=5)}")
    for i in range(24):  # frauds of 03-01..03-04 labelled on 03-06..03-08
        lines.append(
            f"t{i},c{i % 3},2024-03-0{1 + i % 4} {i % 24:02d}:{i:02d}:07,1.5,1,"
            f"{label_time.format(day=6 + i % 3)}"
        )
    return "\n".join(lines) + "\n"


def _said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "every label_time is a whole day" in
            r.getMessage()]  # fmt: skip


def test_labels_stamped_at_midnight_are_read_as_their_days_end(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": _csv("2024-03-0{day} 00:00:00")})
    assert_accounted(spark, result, 25)
    # the same-day fraud (10:00, label stamped 00:00 that day) is published, not quarantined
    assert result.quarantine_rows == 0, result.quarantine_by_reason
    rows = _rows(spark, result)
    assert rows["s1"]["label_time"] == dt.datetime(2024, 3, 5, 23, 59, 59, 999999)
    assert {r["label_time"].time() for r in rows.values()} == {dt.time(23, 59, 59, 999999)}
    assert result.label_time_resolution == "day"
    assert result.label_times_read_as_day_end == 25
    assert result.label_time_reading == "day_clock_end_of_day"
    (record,) = [r for r in caplog.records if "every label_time is a whole day" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        f"ETL {tmp_path / 'in'}: every label_time is a whole day UTC, 25 of them written as "
        "the day's midnight (00:00:00): a clock of days, each midnight read as the END of its day"
    )
    assert "label_times_read_as_day_end 25 in the report" in record.getMessage()
    assert "etl.label_time_format" not in record.getMessage()  # no setting to advise
    # on etl.time_zone's clock: New York's midnights are read as New York's day's end
    ny = _run(spark, tmp_path / "ny", {"a.csv": _csv("2024-03-0{day} 00:00:00")},
              time_zone="America/New_York")  # fmt: skip
    assert ny.quarantine_rows == 0 and ny.label_times_read_as_day_end == 25
    assert _rows(spark, ny)["s1"]["label_time"] == dt.datetime(2024, 3, 6, 4, 59, 59, 999999)


def test_one_label_time_off_midnight_leaves_every_value_as_written(spark, tmp_path, caplog) -> None:
    """Not a clock of days: a label at 00:00:00 of a clock of seconds is read as written."""
    text = _csv("2024-03-0{day} 00:00:00") + "m1,c9,2024-03-02 10:00:00,1.5,1,2024-03-06 11:12:13\n"
    with caplog.at_level(logging.INFO, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": text})
    assert result.quarantine_by_reason == {"label_time_before_timestamp": 1}
    assert result.label_times_read_as_day_end == 0 and result.label_time_resolution == "second"
    assert _rows(spark, result)["t0"]["label_time"] == dt.datetime(2024, 3, 6)
    assert not _said(caplog)


def test_the_setting_named_reads_each_day_as_its_end(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": _csv("2024-03-0{day} 00:00:00")},
                      label_time_format="yyyy-MM-dd' 00:00:00'")  # fmt: skip
    assert_accounted(spark, result, 25)
    assert result.quarantine_rows == 0 and result.label_time_resolution == "day"
    assert result.label_times_read_as_day_end == 0  # dates alone: read so since review51c
    assert not _said(caplog)
    end = dt.datetime(2024, 3, 5, 23, 59, 59, 999999)
    assert _rows(spark, result)["s1"]["label_time"] == end


def test_a_label_clock_of_seconds_is_recorded_without_a_word(spark, tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl"):
        result = _run(spark, tmp_path, {"a.csv": _csv("2024-03-0{day} 11:12:13")})
    assert result.quarantine_rows == 0 and result.label_time_resolution == "second"
    assert result.label_times_read_as_day_end == 0 and not _said(caplog)


FEATURES_RAW = (
    "transaction_id,card_id,timestamp,amount,label,label_time\n"
    "f1,c1,2024-03-04 15:00:00,1.5,1,2024-03-05 00:00:00\n"  # its label arrived on 03-05
    "a1,c1,2024-03-05 08:00:00,2.5,0,2024-03-12 00:00:00\n"  # before that label came
    "f2,c1,2024-03-05 10:00:00,3.5,1,2024-03-05 00:00:00\n"  # a fraud labelled that day
    "a2,c1,2024-03-06 09:00:00,4.5,0,2024-03-12 00:00:00\n"  # the day after: both known
)


def test_a_same_day_transaction_does_not_see_a_label_stamped_at_its_midnight(
    spark, tmp_path
) -> None:
    from fraud_app.config import load_config
    from fraud_app.etl.pipeline import run_etl
    from fraud_app.features.pipeline import build_feature_table

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.csv").write_text(FEATURES_RAW)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "r.yaml").write_text(
        "version: 1\nfeatures:\n"
        "  - {kind: fraud_rate, entity: card, window: 30d, mature_only: false, smoothing: 0}\n"
    )
    config = load_config(None, {
        "paths.root": str(tmp_path / "work"), "etl": {"input": str(tmp_path / "raw")},
        "features": {"spec_dir": str(tmp_path / "specs")},
    })  # fmt: skip
    etl = run_etl(spark, config)
    assert etl.quarantine_rows == 0 and etl.output_rows == 4  # f2 was quarantined
    build_feature_table(spark, config)
    table = spark.read.parquet(config.feature_table())
    (rate,) = [c for c in table.columns if "fraud_rate" in c]
    got = {r["transaction_id"]: r[rate] for r in table.collect()}
    # a1 at 08:00 counted f1, its label stamped 00:00 that day, as known (1.0 on the base)
    assert got["a1"] == 0.0 and got["f2"] == 0.0
    assert got["a2"] == pytest.approx(2 / 3)  # after the day ended: f1 and f2 known


def test_a_labels_feed_reads_a_clock_of_days_as_the_etl_does(
    spark, transactions_published, tmp_path, caplog
) -> None:
    from tests.fraud_app.etl.test_labels_feed import _config, _feed, _labels, _root

    root = _root(transactions_published, tmp_path)
    from fraud_app.etl.labels import run_labels

    feed = _feed(tmp_path, "transaction_id,label,label_time\n"
                           "t1,1,2024-01-05 00:00:00\n"  # t1 at 01-05 10:00: was quarantined
                           "t3,1,2024-01-07 00:00:00\n")  # fmt: skip
    with caplog.at_level(logging.INFO, logger="fraud_app.etl"):
        r = run_labels(spark, _config(root), [feed])
    assert r.quarantine_by_reason == {} and r.labels_filled == 2
    assert r.label_times_read_as_day_end == 2
    labels = _labels(spark, r)
    assert labels["t1"] == (1, "2024-01-05 23:59:59.999999")
    assert labels["t3"] == (1, "2024-01-07 23:59:59.999999")
    (record,) = [x for x in caplog.records if "every label_time is a whole day" in x.getMessage()]
    assert record.levelno == logging.WARNING  # the table's labels were never read so before
    assert record.getMessage().startswith(f"label feed {feed}: every label_time is a whole day")
    # a second feed of the same clock: said as INFO (the last labels report counted some)
    caplog.clear()
    again = _feed(tmp_path, "transaction_id,label,label_time\nt4,1,2024-01-09 00:00:00\n",
                  "again.csv")  # fmt: skip
    with caplog.at_level(logging.INFO, logger="fraud_app.etl"):
        r = run_labels(spark, _config(root), [again])
    assert _labels(spark, r)["t4"] == (1, "2024-01-09 23:59:59.999999")
    (record,) = [x for x in caplog.records if "every label_time is a whole day" in x.getMessage()]
    assert record.levelno == logging.INFO


def test_a_clock_of_seconds_is_decided_on_its_first_value_without_a_scan(spark) -> None:
    """The deciding probe is a limit job over the first label_times; the aggregate over the
    whole delivery (a second parse of it in the ETL) runs only for a clock that may be of
    days (its first deciding value a midnight)."""
    from fraud_app.etl.label_clock import MOVED, read_day_clock
    from tests.spark_jobs import counted_jobs

    def frame(values):
        rows = [(dt.datetime.fromisoformat(v) if v else None,) for v in values]
        return spark.createDataFrame(rows, "lt timestamp")  # 2 partitions (local[2])

    seconds = frame([None, "2024-03-05 10:11:12", *["2024-03-06 00:00:00"] * 30])
    (read, moved), jobs = counted_jobs(spark, "clock", lambda: read_day_clock(seconds, "lt", None))
    assert moved == 0 and jobs == 1, jobs  # the limit job alone (the aggregate: 2, a shuffle)
    assert read.filter(MOVED).count() == 0
    # a midnight first, a clock of seconds after: the aggregate decides, nothing moved
    mixed = spark.createDataFrame(
        [(dt.datetime(2024, 3, 6),), (dt.datetime(2024, 3, 6, 11, 12, 13),)], "lt timestamp"
    ).coalesce(1)
    assert read_day_clock(mixed, "lt", None)[1] == 0
    days = frame([None, "2024-03-05 00:00:00", "2024-03-06 00:00:00", "2024-03-07 23:59:59.999999"])
    read, moved = read_day_clock(days, "lt", None)
    assert moved == 2
    assert sorted(r["lt"] for r in read.collect() if r["lt"]) == [
        dt.datetime(2024, 3, 5, 23, 59, 59, 999999), dt.datetime(2024, 3, 6, 23, 59, 59, 999999),
        dt.datetime(2024, 3, 7, 23, 59, 59, 999999),
    ]  # fmt: skip
