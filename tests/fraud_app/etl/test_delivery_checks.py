"""etl.mode: append: rows equal to a published (or another added) transaction but for their
transaction_id, and rows dated before the newest published date, are published as the
delivery says and named: counts and examples in the report, one WARNING each (before,
a re-keyed re-delivery was published twice and a backfill changed later days' features
without a word)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_append_incremental import (
    _cfg,
    _row,
    _write,
    copy_published,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def first(first_delivery_published) -> Path:
    """t0..t7 on 2024-01-01..04 published once per test process (conftest.py; no rekeyed
    copies, no backfilled dates: publish_first checks); each test appends to its own copy."""
    return first_delivery_published / "work"


def test_rekeyed_copies_and_backfilled_dates_are_published_and_named(
    spark, tmp_path, first, caplog
):
    copy_published(first, tmp_path)  # t0..t7, 01-01..01-04
    second = _write(
        tmp_path / "d2" / "b.csv",
        [
            _row("n3", 2, "3.5"),  # t3 again (01-02 10:00, 3.5) under a new id
            _row("n8", 2, "7", hour=11),  # a new transaction on a published day
            _row("n9", 5, "9"),  # a new day after the newest published one
            _row("n10", 5, "2", hour=12),  # two added rows alike but for their ids
            _row("n11", 5, "2", hour=12),
        ],
    )
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.delivery_checks"):
        result = run_etl(spark, _cfg(tmp_path, second))
    assert result.output_rows == 8 + 5  # nothing dropped: published as delivered
    assert result.rekeyed_copies == 3
    assert result.rekeyed_examples == (
        "t3 (published) = n3 (added): card_id c1, merchant_id m1, 2024-01-02 10:00:00, amount 3.5",
        "n10 (added) = n11 (added): card_id c1, merchant_id m1, 2024-01-05 12:00:00, amount 2",
    )
    assert result.backfilled_dates == ("2024-01-02",)
    report = json.loads((tmp_path / "work" / "canonical" / "_etl_report.json").read_text())
    assert report["rekeyed_copies"] == 3 and report["backfilled_dates"] == ["2024-01-02"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3 added row(s) equal a published or another added" in w for w in warnings)
    assert any(
        "rows dated 2024-01-02 were added on or before the newest published" in w for w in warnings
    )


def test_a_later_day_alone_is_neither(spark, tmp_path, first):
    copy_published(first, tmp_path)
    later = _write(tmp_path / "d2" / "b.csv", [_row("n1", 5, "0.5"), _row("n2", 6, "1.5")])
    result = run_etl(spark, _cfg(tmp_path, later))  # same card, amounts, hours: other days
    assert (result.rekeyed_copies, result.rekeyed_examples, result.backfilled_dates) == (0, (), ())
    assert (result.skipped_dates, result.skipped_days) == (None, 0)  # 01-05 follows 01-04


def test_dates_an_append_skips_are_named(spark, tmp_path, first, caplog):
    # session 29: a month without a delivery between two appends was published without a
    # word; the window features of the days after it count fewer transactions
    copy_published(first, tmp_path)  # 01-01..01-04
    later = _write(tmp_path / "d2" / "b.csv", [_row("n1", 9, "0.5"), _row("n2", 10, "1.5")])
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.delivery_checks"):
        result = run_etl(spark, _cfg(tmp_path, later))
    assert (result.skipped_dates, result.skipped_days) == ("2024-01-05..2024-01-08", 4)
    report = json.loads((tmp_path / "work" / "canonical" / "_etl_report.json").read_text())
    assert report["skipped_dates"] == "2024-01-05..2024-01-08" and report["skipped_days"] == 4
    assert "ETL append: 4 date(s), 2024-01-05..2024-01-08, hold no rows" in caplog.text


def test_late_rows_of_the_newest_date_are_named(spark, tmp_path, first, caplog):
    # session 36: rows of yesterday in today's delivery (the usual late arrival: a switch
    # outage, a batch acquirer) were added to the newest published date without a word,
    # so the scores already written for that date silently lacked them
    copy_published(first, tmp_path)  # 01-01..01-04
    later = _write(tmp_path / "d2" / "b.csv", [_row("late4", 4, "0.5", hour=23),
                                               _row("n5", 5, "1.5")])  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.delivery_checks"):
        result = run_etl(spark, _cfg(tmp_path, later))
    assert result.backfilled_dates == ("2024-01-04",)
    report = json.loads((tmp_path / "work" / "canonical" / "_etl_report.json").read_text())
    assert report["backfilled_dates"] == ["2024-01-04"]
    assert "rows dated 2024-01-04 were added on or before the newest published date" in caplog.text
    assert "the added rows have no score: score those dates again" in caplog.text
