"""The backtest report says what data each fold's windows held, beside the configured
windows (helper probe49c, session 49). `windows` gave only the configured [start, end): a
fold whose test window ran past the data's end (backtest.end after it) showed days with
no data as if scored, and a train window from "the first row" said nothing of where that
was (session 48 added a WARNING; the report and the table still said the configured
dates). `covered` holds each window's rows and first / last timestamp; the terminal table
shows both."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.evaluation.folds import Fold
from pipelines.backtest.pipeline import covered_windows
from pipelines.backtest.report import METRICS, format_table

UTC = dt.UTC


def _t(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, tzinfo=UTC)


# one row every 6 hours, 2024-01-03 00:00 .. 2024-01-12 18:00, in the fold below
COVERED = {
    "train": {"rows": 20, "first": "2024-01-03T00:00:00+00:00",
              "last": "2024-01-07T18:00:00+00:00"},
    "validation": {"rows": 8, "first": "2024-01-08T00:00:00+00:00",
                   "last": "2024-01-09T18:00:00+00:00"},
    "test": {"rows": 8, "first": "2024-01-11T00:00:00+00:00",
             "last": "2024-01-12T18:00:00+00:00"},
}  # fmt: skip


@pytest.mark.spark
def test_covered_is_the_data_each_window_held(spark) -> None:
    # one row every 6 hours, 2024-01-03 00:00 .. 2024-01-12 18:00
    rows = [(f"t{i}", _t(3) + dt.timedelta(hours=6 * i)) for i in range(40)]
    df = spark.createDataFrame(rows, "transaction_id string, timestamp timestamp")
    fold = Fold(0, (None, _t(8)), (_t(8), _t(10)), (_t(11), _t(16)))  # test runs past the data
    covered = covered_windows(df, fold)
    assert covered == COVERED
    empty = covered_windows(df, Fold(1, (_t(1), _t(2)), (_t(2), _t(3)), (_t(20), _t(21))))
    assert empty["test"] == {"rows": 0, "first": None, "last": None}


def _report(covered: dict | None) -> dict:
    m = {"roc_auc": 0.9, "average_precision": 0.5, "recall_at_budget": 0.4,
         "card_precision_at_k": 0.03}  # fmt: skip
    fold = Fold(0, (None, _t(8)), (_t(8), _t(10)), (_t(11), _t(16)))
    f = {"fold": 0, "windows": fold.to_dict(), "models": {"ensemble": m}}
    if covered is not None:
        f["covered"] = covered
    summary = {"ensemble": {k: {"mean": v, "std": 0.0, "folds": 1} for k, v in m.items()},
               "leakage_checks_ok": True}  # fmt: skip
    assert set(m) == set(METRICS)
    return {"folds": [f], "summary": summary}


def test_the_table_shows_the_configured_and_the_covered_window() -> None:
    covered = COVERED
    lines = format_table(_report(covered)).splitlines()
    assert lines[0].split()[:4] == ["fold", "window", "configured", "[start,"]
    assert lines[2].split() == ["0", "train", "first", "row", "..", "2024-01-08", "00:00",
                                "2024-01-03", "00:00", "..", "2024-01-07", "18:00", "20"]  # fmt: skip
    assert lines[4].split() == ["0", "test", "2024-01-11", "00:00", "..", "2024-01-16", "00:00",
                                "2024-01-11", "00:00", "..", "2024-01-12", "18:00", "8"]  # fmt: skip
    assert any(line.split()[:2] == ["0", "ensemble"] for line in lines)
    # a report written before `covered` (the dashboards read old ones too): `-`
    old = format_table(_report(None)).splitlines()
    assert old[4].split()[-2:] == ["-", "-"]
    none = dict(covered, test={"rows": 0, "first": None, "last": None})
    assert format_table(_report(none)).splitlines()[4].split()[-3:] == ["no", "rows", "0"]
