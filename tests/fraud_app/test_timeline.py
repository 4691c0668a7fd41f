"""The data's timeline (fraud_app.timeline): which dates are incomplete (an outage, a
partial delivery, a collapsed volume) and what the window features of later dates read
of them. Pure Python; the Spark callers are tested beside validate, features and score."""

from __future__ import annotations

import datetime as dt
import logging

from fraud_app.timeline import (
    affected_until,
    dates_within,
    describe_days,
    history_start,
    read_by,
    shifted,
    table_timeline,
    thin_days,
    timeline_line,
    window_history_level,
    window_history_line,
)

D0 = dt.date(2024, 1, 1)
DAY = 86_400


def _counts(rows: list[int]) -> dict[dt.date, int]:
    return {D0 + dt.timedelta(days=i): n for i, n in enumerate(rows) if n is not None}


def test_missing_partial_and_collapsed_dates_are_found_weekends_are_not():
    # 30 days of ~300 rows, weekends at 60 %; an outage of two days, a day cut after its
    # first hours (7 rows), a day at 5 % of its volume
    rows = [180 if i % 7 in (5, 6) else 300 for i in range(30)]
    rows[9] = rows[10] = 0
    rows[14], rows[19] = 7, 15
    thin = thin_days(_counts(rows), 0.25)
    assert [(t.date.day, t.rows) for t in thin] == [(10, 0), (11, 0), (15, 7), (20, 15)]
    assert thin[0].usual == 300 and thin[2].describe() == "2024-01-15 (7 rows; usual ~300)"
    assert thin[0].describe() == "2024-01-10 (no rows)"
    assert describe_days(thin) == (
        "2024-01-10..2024-01-11 (2 dates, no rows), 2024-01-15 (7 rows; usual ~300), "
        "2024-01-20 (15 rows; usual ~300)"
    )
    # a date missing from the counts altogether is the same as one counted 0
    del_rows = _counts(rows)
    del del_rows[D0 + dt.timedelta(days=9)]
    assert thin_days(del_rows, 0.25) == thin
    assert thin_days(_counts(rows), 0) == []  # off
    assert [t.date.day for t in thin_days(_counts(rows), 0.25, within=(D0, D0 + dt.timedelta(days=12)))] == [10, 11]  # fmt: skip


def test_the_first_and_last_dates_count_only_when_they_are_partial():
    rows = [300] * 20
    assert thin_days(_counts(rows), 0.25) == []
    rows[0], rows[-1] = 40, 20  # data that starts and ends mid-day
    assert [t.date.day for t in thin_days(_counts(rows), 0.25)] == [1, 20]
    # dates before the first and after the last are not "missing"
    assert thin_days({D0: 10, D0 + dt.timedelta(days=1): 10}, 0.5) == []


def test_a_long_outage_uses_the_whole_datas_median():
    rows = [300] * 10 + [0] * 20 + [300] * 10
    thin = thin_days(_counts(rows), 0.25)
    assert len(thin) == 20 and all(t.rows == 0 and t.usual == 300 for t in thin)
    assert describe_days(thin) == "2024-01-11..2024-01-30 (20 dates, no rows)"
    many = thin_days(_counts([300, 0] * 10 + [300]), 0.25)  # every other date
    assert describe_days(many) == (
        "2024-01-02 (no rows), 2024-01-04 (no rows), 2024-01-06 (no rows), 2024-01-08 (no "
        "rows), 2024-01-10 (no rows), ... (4 more), 2024-01-20 (no rows)"
    )


def test_table_timeline_names_the_warm_up_and_the_dates_each_gap_reaches():
    rows = [300] * 60
    rows[40] = 0
    timeline = table_timeline(_counts(rows), 37 * DAY, 0.25)
    assert timeline["first_date"] == "2024-01-01" and timeline["last_date"] == "2024-02-29"
    assert timeline["full_history_from"] == "2024-02-07"  # 37 days after the first date
    assert timeline["incomplete_dates"] == [
        {"date": "2024-02-10", "rows": 0, "usual": 300.0, "read_until": "2024-03-18"}
    ]
    line = timeline_line(timeline)
    assert "1 incomplete date(s)" in line and "2024-02-10 (no rows)" in line
    assert "up to 37 days after each (through 2024-03-18)" in line
    assert "validation.canonical.min_day_volume_ratio 0.25" in line
    assert timeline_line(table_timeline(_counts([300] * 60), 37 * DAY, 0.25)) is None
    assert table_timeline({}, 37 * DAY, 0.25) is None


def test_a_training_window_mostly_in_the_warm_up_is_named():
    history = {
        "rows": 1000, "warm_up_rows": 860, "incomplete_history_rows": 50,
        "full_history_from": "2024-02-07", "data_first_date": "2024-01-01",
        "lookback_days": 37.0, "incomplete_dates": ["2024-02-10"],
    }  # fmt: skip
    line = window_history_line("training", history)
    assert line.startswith("of the training window's 1000 rows, 860 (86%) are from the warm-up")
    assert "50 (5%) read incomplete dates (2024-02-10)" in line
    assert "splits.train_days" in line
    month = [str(dt.date(2024, 1, 10) + dt.timedelta(days=i)) for i in range(31)]
    line = window_history_line("training", {**history, "incomplete_dates": [*month, "2024-02-15"]})
    assert "read incomplete dates (2024-01-10..2024-02-09 (31 dates), 2024-02-15)" in line
    few = {**history, "warm_up_rows": 50, "incomplete_history_rows": 0}
    assert window_history_line("training", few) is None  # 5 %: not worth a warning
    assert window_history_line("training", None) is None


def test_the_warm_up_alone_is_information_incomplete_dates_a_warning():
    # every data set has a warm-up at its start (make demo: 86 % of its training rows)
    warm_only = {"rows": 1000, "warm_up_rows": 860, "incomplete_history_rows": 0}
    assert window_history_level(warm_only) == logging.INFO
    assert window_history_level({**warm_only, "incomplete_history_rows": 99}) == logging.INFO
    assert window_history_level({**warm_only, "incomplete_history_rows": 100}) == logging.WARNING
    assert window_history_level({"rows": 0, "incomplete_history_rows": 0}) == logging.INFO


def test_the_incomplete_dates_inside_a_window():
    rows = [300] * 30
    rows[9], rows[14] = 0, 20
    timeline = table_timeline(_counts(rows), 7 * DAY, 0.25)
    noon = dt.datetime(2024, 1, 10, 12, tzinfo=dt.UTC)
    assert [t.date.day for t in dates_within(timeline, noon, noon + dt.timedelta(days=5))] == [10, 15]  # fmt: skip
    # the end is exclusive: a window ending at 2024-01-15 00:00 does not hold that date
    start = dt.datetime(2024, 1, 11, tzinfo=dt.UTC)
    assert dates_within(timeline, start, start + dt.timedelta(days=4)) == []
    assert dates_within(None, start, start) == []


def test_a_backtest_fold_with_incomplete_dates_is_warned_one_in_a_gap_refused(caplog):
    import pytest

    from fraud_app.errors import ConfigError
    from fraud_app.evaluation.folds import Fold, check_fold_dates

    rows = [300] * 40
    rows[20] = rows[21] = 0  # 2024-01-21, 01-22
    rows[25] = 10
    timeline = table_timeline(_counts(rows), 7 * DAY, 0.25)

    def at(day: int) -> dt.datetime:
        return dt.datetime(2024, 1, day, tzinfo=dt.UTC)

    with caplog.at_level("WARNING", logger="fraud_app.evaluation.folds"):
        check_fold_dates(Fold(0, (None, at(10)), (at(10), at(15)), (at(15), at(20))), timeline)
        assert not caplog.records
        check_fold_dates(Fold(1, (at(5), at(20)), (at(20), at(24)), (at(24), at(28))), timeline)
    assert "backtest fold 1: its validation window (2024-01-20 00:00 .. 2024-01-24 00:00) holds 2 incomplete date(s): 2024-01-21..2024-01-22 (2 dates, no rows)" in caplog.text  # fmt: skip
    assert "its test window (2024-01-24 00:00 .. 2024-01-28 00:00) holds 1 incomplete date(s): 2024-01-26 (10 rows; usual ~300)" in caplog.text  # fmt: skip
    with pytest.raises(ConfigError, match=r"fold 2: its test window .* holds no rows"):
        check_fold_dates(Fold(2, (at(5), at(15)), (at(15), at(21)), (at(21), at(23))), timeline)


def test_the_incomplete_dates_a_window_of_dates_reads():
    rows = [300] * 40
    rows[9], rows[20] = 0, 10  # 2024-01-10 (read until 01-17), 2024-01-21 (until 01-28)
    timeline = table_timeline(_counts(rows), 7 * DAY, 0.25)
    day = dt.date(2024, 1, 1).replace
    assert [t.date.day for t in read_by(timeline, day(day=17), day(day=21))] == [10, 21]
    assert [t.date.day for t in read_by(timeline, day(day=18), day(day=20))] == []
    assert [t.date.day for t in read_by(timeline, day(day=28), day(day=30))] == [21]
    assert read_by(None, day(day=1), day(day=2)) == []


def test_the_history_of_the_calendars_first_days_starts_at_its_first_day():
    # `score --start 0001-01-01` overflowed Python's date here (OverflowError)
    lookback = 37 * DAY + 1  # rounded up to 38 days
    assert history_start(D0, lookback) == D0 - dt.timedelta(days=38)
    assert history_start(dt.date(1, 1, 1), lookback) == dt.date.min
    assert history_start(dt.date(1, 2, 7), lookback) == dt.date(1, 1, 1)  # exactly 38 days
    assert history_start(dt.date(1, 2, 6), lookback) == dt.date.min
    assert affected_until(D0, lookback) == D0 + dt.timedelta(days=38)
    assert affected_until(dt.date(9999, 12, 30), lookback) == dt.date.max
    week = dt.timedelta(days=7)
    assert shifted(dt.date(1, 1, 3), -week) == dt.date.min
    assert shifted(dt.date(9999, 12, 29), week) == dt.date.max
    assert shifted(D0, -week) == dt.date(2023, 12, 25) and shifted(D0, week) == dt.date(2024, 1, 8)
