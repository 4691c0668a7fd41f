"""`fraud-app labels` asks its counts in fewer Spark jobs: the classification's statuses,
reasons, examples and dates in one aggregation of it, the feed's rejected rows per reason
observed on the feed's staging write (fraud_app.etl.quarantine_counts.rejected), the
rewritten days handed to the publish's write. The counts stay those of a group-by of the
quarantine rows written. Jobs counted with the status tracker around the whole run
(session 43, helper labels43: docs/PROBES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.card_masking import mask_pans
from fraud_app.config import load_config
from fraud_app.etl.labels import run_labels
from fraud_app.etl.rules import DETAIL, REASON
from tests.fraud_app.etl.test_labels_feed import _root
from tests.spark_jobs import counted_jobs

pytestmark = pytest.mark.spark

# t1 filled, t2 corrected (published 0), t5 unchanged with another label_time, t9 unknown,
# t3 twice with different labels, t4 an invalid label, a row without transaction_id
FEED = (
    "transaction_id,label,label_time\n"
    "t1,1,2024-01-09 00:30:00\n"
    "t2,1,2024-02-01 00:30:00\n"
    "t5,1,2024-01-09 00:30:00\n"
    "t9,1,2024-01-09 00:30:00\n"
    "t3,1,2024-01-10 00:30:00\n"
    "t3,0,2024-01-10 00:30:00\n"
    "t4,abc,\n"
    ",1,\n"
)


def _run(spark, root: Path, feed: Path):
    """run_labels and the Spark jobs it fired (its job group's, from the status tracker)."""
    config = load_config(None, {"paths.root": str(root)})
    return counted_jobs(spark, "run_labels", lambda: run_labels(spark, config, [str(feed)]))


def _grouped(rows) -> tuple[dict, dict]:
    """The question asked as before: a group-by of the quarantine rows."""
    counted = rows.groupBy(REASON).agg(F.count(F.lit(1)), F.min(DETAIL)).collect()
    return {r[0]: r[1] for r in counted}, {str(r[0]): mask_pans(r[2]) for r in counted}


def test_a_labels_run_asks_its_counts_in_fewer_jobs(spark, transactions_published, tmp_path):
    root = _root(transactions_published, tmp_path)
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED)
    r, jobs = _run(spark, root, feed)
    assert (r.labels_filled, r.labels_corrected, r.labels_unchanged, r.quarantine_rows,
            r.duplicate_rows, r.label_time_changed) == (1, 1, 1, 5, 0, 1)  # fmt: skip
    assert r.label_time_changed_example == (
        "transaction_id 't5': published label_time '2024-01-08 00:30:00', "
        "this feed '2024-01-09 00:30:00'"
    )
    assert r.label_correction_example.startswith("transaction_id 't2': label 0 (known at ")
    assert r.partitions_rewritten == ("2024-01-05",)
    assert r.ledger_entries_added == 2
    # the quarantine held no row before: it holds this run's, asked as a group-by
    written = spark.read.parquet(r.quarantine_path)
    assert (r.quarantine_by_reason, r.quarantine_examples) == _grouped(written)
    assert r.quarantine_by_reason == {"conflicting_duplicate": 2, "invalid_label": 1,
                                      "missing_required_field": 1,
                                      "unknown_transaction": 1}  # fmt: skip
    # base 6785aa73: 32 (the by-reason group-by, the dates' distinct, the write's
    # distinct of its days, each example asked apart); 091bc965: 23; now 20: the staged
    # and published partitions measured in one pass (labels_apply._measured: 5 -> 3), the
    # quarantine's schema read once (AppendQuarantine.held: 2 -> 1), session 44; 21 since
    # review54a: a limit job over the feed's first label_times decides whether it may be a
    # clock of days whose midnights are read as their day's end (label_clock.read_day_clock;
    # an aggregate over the whole feed only when its first deciding value is a midnight)
    assert jobs <= 21, jobs

    # the same feed again: every row unchanged or already quarantined, counted the same
    again, jobs = _run(spark, root, feed)
    assert (again.labels_filled, again.labels_corrected, again.labels_unchanged,
            again.already_quarantined) == (0, 0, 3, 5)  # fmt: skip
    assert (again.quarantine_by_reason, again.quarantine_examples) == (
        r.quarantine_by_reason, r.quarantine_examples)  # fmt: skip
    assert again.partitions_rewritten == ()


def test_rejects_the_observation_does_not_cover_are_grouped(spark, tmp_path):
    """A reason outside rules.REASON_CODES: the observation misses its rows, so the staged
    rows with a reason are grouped instead (the clean row counted apart either way)."""
    from fraud_app.etl import quarantine_counts
    from fraud_app.etl.written import read_written

    rows = spark.createDataFrame(
        [("a", "invalid_label", "d2"), ("b", "invalid_label", "d1"), ("c", None, None),
         ("d", "some_new_reason", "x")], f"id string, {REASON} string, {DETAIL} string",
    )  # fmt: skip
    for data, expected in (
        (rows.filter(F.col("id") != "d"), ({"invalid_label": 2}, {"invalid_label": "d1"})),
        (rows, ({"invalid_label": 2, "some_new_reason": 1},
                {"invalid_label": "d1", "some_new_reason": "x"})),
    ):  # fmt: skip
        path = str(tmp_path / f"stage{data.count()}")
        observed, observation = quarantine_counts.observe(data)
        observed.write.parquet(path)
        stage = read_written(spark, data.schema, path)
        assert quarantine_counts.rejected(stage, data.count(), observation) == expected
