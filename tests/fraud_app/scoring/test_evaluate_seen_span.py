"""`evaluate`'s `trained_on` counts the dates between the window's first and last dates with
rows (probe53a): a window reaching before the data (`--start 0001-01-01`) of a model trained
from the first row (`trained_from` null) reported 738,933 days it "may have trained on",
from 0001-01-01, where the data began 2024-01-01; the dashboards repeated the count."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

from fraud_app.evaluation.spark_window import Census
from fraud_app.scoring.evaluate import _window_notes

D = dt.date


def _notes(meta: dict, start: dt.date, end: dt.date, dates: list[dt.date]) -> dict:
    model = SimpleNamespace(ensemble=SimpleNamespace(metadata=meta))
    window = SimpleNamespace(start=start, end=end, path="/t/features")
    counted = Census(rows=len(dates), dates=dates, unlabelled=0, day_rows={}, frauds=0,
                     bad_labels=0, first_bad=None, nonfinite=0)  # fmt: skip
    return _window_notes("models:/m/1", model, window, counted)


def test_a_window_reaching_before_the_data_counts_only_the_dates_of_its_rows(caplog):
    meta = {"trained_from": None, "trained_through": "2024-02-18T00:00:00+00:00"}
    dates = [D(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)]  # 2024-01-01..02-29
    with caplog.at_level(logging.WARNING, logger="fraud_app.scoring.evaluate"):
        notes = _notes(meta, D(1, 1, 1), D(9999, 12, 31), dates)
    seen = notes["trained_on"]
    assert (seen["first"], seen["last"], seen["days"]) == ("2024-01-01", "2024-02-17", 48)
    assert notes["days_without_rows"] == 3_652_059 - 60
    (line,) = [r.getMessage() for r in caplog.records if "optimistic" in r.getMessage()]
    assert "so 48 date(s) of the window, 2024-01-01..2024-02-17, may be rows it learnt" in line


def test_a_window_inside_the_data_is_unchanged():
    meta = {"trained_from": "2024-01-10T00:00:00+00:00",
            "trained_through": "2024-02-01T00:00:00+00:00"}  # fmt: skip
    dates = [D(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    seen = _notes(meta, D(2024, 1, 20), D(2024, 2, 5), dates[19:36])["trained_on"]
    assert (seen["first"], seen["last"], seen["days"]) == ("2024-01-20", "2024-01-31", 12)
    after = _notes(meta, D(2024, 2, 1), D(2024, 2, 5), dates[31:36])["trained_on"]
    assert after is None
