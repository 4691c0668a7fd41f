"""`etl.mode: replace` rebuilds the quarantine from etl.input; the rows `fraud-app labels`
runs had quarantined were dropped (a WARNING said so). Now they are carried into the
rebuilt quarantine, once per rebuild, in its columns. Real Spark, the real ETL and labels."""

from __future__ import annotations

import logging

import pytest

from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_labels_ledger import FIRST, HEADER, _config, published_then_fed

pytestmark = pytest.mark.spark


def _quarantined(spark, path: str) -> dict[str, tuple]:
    rows = spark.read.parquet(path).collect()
    return {r.raw_transaction_id: (r.reason, r.raw_label) for r in rows}


def test_a_replace_rebuild_keeps_the_rows_label_feeds_quarantined(
    spark, first_published, tmp_path, caplog
):
    fed, _ = published_then_fed(spark, first_published, tmp_path, "a1,1,2024-01-09 00:30:00\n"
                                "zz9,1,2024-01-09 00:30:00\na2,maybe,\n")  # fmt: skip
    assert fed.quarantine_rows == 2
    before = _quarantined(spark, fed.quarantine_path)
    assert set(before) == {"zz9", "a2"}

    with caplog.at_level(logging.INFO, logger="fraud_app.etl.publish"):
        rebuilt = run_etl(spark, _config(tmp_path))  # etl.mode: replace (the default)
    assert rebuilt.label_feed_quarantine_kept == 2
    assert rebuilt.quarantine_rows == 0  # its own accounting: no input record quarantined
    assert _quarantined(spark, rebuilt.quarantine_path) == before
    assert "are not in it any more" not in caplog.text
    assert "2 row(s) that `fraud-app labels` runs quarantined are kept" in caplog.text

    again = run_etl(spark, _config(tmp_path))  # carried once more, not twice
    assert again.label_feed_quarantine_kept == 2
    assert _quarantined(spark, again.quarantine_path) == before


def test_a_rebuild_without_a_column_the_kept_rows_have_is_widened_for_them(
    spark, first_published, tmp_path
):
    published_then_fed(spark, first_published, tmp_path, "zz9,1,2024-01-09 00:30:00\n")
    # the rebuild's input has no label_time column (allowed: a delay-only export)
    header = HEADER.replace(",label_time", "")
    (tmp_path / "raw" / "a.csv").write_text(
        header + "".join(line.rsplit(",", 1)[0] + "\n" for line in FIRST.splitlines())
        + "bad,c9,not a time,1.0,\n"
    )  # fmt: skip
    rebuilt = run_etl(spark, _config(tmp_path))
    assert rebuilt.quarantine_rows == 1 and rebuilt.label_feed_quarantine_kept == 1
    q = spark.read.parquet(rebuilt.quarantine_path)
    assert "raw_label_time" in q.columns  # kept: the column only the feed's row has
    rows = {r.raw_transaction_id: r.raw_label_time for r in q.collect()}
    assert rows["bad"] is None and rows["zz9"] == "2024-01-09 00:30:00"
    for f in q.inputFiles():  # every file of the quarantine has every column
        assert "raw_label_time" in spark.read.parquet(f).columns
