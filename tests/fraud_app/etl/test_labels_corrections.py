"""Label corrections (fraud_app.etl.labels_classify, `etl.label_corrections`): a feed label
other than the published one was always quarantined as `conflicting_label`, so a fraud
exported as 0 stayed 0 for good. Now a 0 -> 1 known after the published label is applied
with its known time (a feed row without label_time: the labels run's time), recorded in
the ledger and re-applied by a replace rebuild; one known no later is quarantined as
`correction_not_after_published_label`; a 1 -> 0 reversal as
`label_reversal_not_supported`; `quarantine` keeps the old behaviour. Real Spark, the real
ETL and labels runs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.labels import check_accounting, run_labels
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label,label_time\n"
ROWS = (
    "u1,c1,m1,2024-01-05 10:00:00,1.5,0,\n"  # 0, known at ts + 7 d = 2024-01-12 10:00
    "u2,c1,m1,2024-01-05 11:00:00,2.5,0,2024-01-06 00:30:00\n"  # 0, known 2024-01-06
    "u3,c2,m1,2024-01-06 10:00:00,3.5,1,2024-01-08 00:30:00\n"  # 1, known 2024-01-08
    "u4,c2,m1,2024-01-07 10:00:00,4.5,,\n"  # unlabelled
    "u5,c3,m2,2024-01-07 12:00:00,5.5,0,\n"  # 0
)
FEED = (
    "transaction_id,label,label_time\n"
    "u1,1,2024-01-10 00:30:00\n"  # a correction known before the published 0 is
    "u2,1,2024-01-09 00:30:00\n"  # a correction known after it: applied
    "u3,0,2024-01-20 00:30:00\n"  # a reversal
    "u4,1,2024-01-09 00:30:00\n"  # a fill
    "u5,0,\n"  # the same label: unchanged
)


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("corrections")
    (base / "raw").mkdir()
    (base / "raw" / "a.csv").write_text(HEADER + ROWS)
    assert run_etl(spark, _config(base)).output_rows == 5
    return base


def _config(base: Path, **etl):
    return load_config(None, {"paths.root": str(base / "work"),
                              "etl": {"input": str(base / "raw"), **etl}})  # fmt: skip


def _copy(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path / "p")
    return tmp_path / "p"


def _feed(base: Path, text: str, name: str = "feed.csv") -> str:
    (base / name).write_text(text)
    return str(base / name)


@pytest.fixture(scope="module")
def fed(spark, published, tmp_path_factory):
    """A copy of `published` with FEED applied once for the module, and that labels run's
    result (its paths: this folder, which no test writes); a test that runs more takes a
    copy (`_copy`)."""
    base = _copy(published, tmp_path_factory.mktemp("fed"))
    return base, run_labels(spark, _config(base), [_feed(base, FEED)])


def _labels(spark, table: str) -> dict[str, tuple]:
    rows = spark.read.parquet(table).collect()
    return {x.transaction_id: (x.label, x.label_time and str(x.label_time)) for x in rows}


def _ledger(spark, table: str) -> list[tuple]:
    rows = spark.read.parquet(f"{table}/_labels_ledger").collect()
    return sorted((x.transaction_id, x.kind, x.label, str(x.label_time), x.previous_label,
                   x.previous_label_time and str(x.previous_label_time)) for x in rows)  # fmt: skip


def test_a_zero_to_one_correction_is_applied_at_its_label_time(spark, fed, tmp_path):
    r = fed[1]
    check_accounting(r)
    assert (r.input_rows, r.labels_filled, r.labels_corrected, r.labels_unchanged,
            r.duplicate_rows) == (5, 1, 1, 1, 0)  # fmt: skip
    assert r.quarantine_by_reason == {
        "correction_not_after_published_label": 1,
        "label_reversal_not_supported": 1,
    }
    assert r.partitions_rewritten == ("2024-01-05", "2024-01-07")
    assert _labels(spark, r.output_path) == {
        "u1": (0, None), "u2": (1, "2024-01-09 00:30:00"), "u3": (1, "2024-01-08 00:30:00"),
        "u4": (1, "2024-01-09 00:30:00"), "u5": (0, None),
    }  # fmt: skip
    assert _ledger(spark, r.output_path) == [
        ("u2", "correction", 1, "2024-01-09 00:30:00", 0, "2024-01-06 00:30:00"),
        ("u4", "fill", 1, "2024-01-09 00:30:00", None, None),
    ]  # fmt: skip
    example = ("transaction_id 'u2': label 0 (known at '2024-01-06 00:30:00') -> 1, known at "
               "'2024-01-09 00:30:00'")  # fmt: skip
    assert r.label_correction_example == example
    assert f"-> 1 filled, 1 corrected (e.g. {example}), 1 unchanged, 2 quarantined" in r.summary()
    report = json.loads(Path(r.report_path).read_text())
    assert (report["labels_corrected"], report["label_corrections"]) == (1, "apply")
    q = {x.raw_transaction_id: (x.reason, x.reason_detail)
         for x in spark.read.parquet(r.quarantine_path).collect()}  # fmt: skip
    assert q["u1"] == ("correction_not_after_published_label", (
        "transaction_id 'u1': this feed's label 1 is known at '2024-01-10 00:30:00' (its "
        "label_time), not after the published label 0, known at '2024-01-12 10:00:00' "
        "(timestamp + features.label_delay_days 7): a correction must be learnt after the "
        "label it corrects; the published label stays"))  # fmt: skip
    assert q["u3"][0] == "label_reversal_not_supported"
    assert q["u3"][1].startswith("transaction_id 'u3' is published with label 1, a known fraud "
                                 "from '2024-01-08 00:30:00' (its label_time); this feed says 0")  # fmt: skip
    assert "no retraction event" in q["u3"][1]

    # the same feed again: the correction and the fill are unchanged, nothing rewritten
    base = _copy(fed[0], tmp_path)
    again = run_labels(spark, _config(base), [_feed(base, FEED)])
    check_accounting(again)
    assert (again.labels_filled, again.labels_corrected, again.labels_unchanged) == (0, 0, 3)
    assert (again.partitions_rewritten, again.ledger_entries_added) == ((), 0)
    assert (again.quarantine_rows, again.already_quarantined) == (2, 2)
    assert _labels(spark, again.output_path) == _labels(spark, r.output_path)
    assert len(_ledger(spark, again.output_path)) == 2


def test_the_quarantine_policy_keeps_every_other_label_as_conflicting(spark, published, tmp_path):
    base = _copy(published, tmp_path)
    r = run_labels(spark, _config(base, label_corrections="quarantine"), [_feed(base, FEED)])
    check_accounting(r)
    assert (r.labels_filled, r.labels_corrected, r.quarantine_by_reason) == (
        1, 0, {"conflicting_label": 3})  # fmt: skip
    assert _labels(spark, r.output_path)["u2"] == (0, "2024-01-06 00:30:00")
    assert "1 corrected" not in r.summary()


def test_a_correction_without_label_time_is_known_when_the_run_applies_it(
    spark, published, tmp_path
):
    base = _copy(published, tmp_path)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    r = run_labels(spark, _config(base), [_feed(base, "transaction_id,label\nu1,1\nu4,0\n")])
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert (r.delay_only, r.labels_filled, r.labels_corrected) == (True, 1, 1)
    row = {x.transaction_id: x for x in spark.read.parquet(r.output_path).collect()}
    # never timestamp + delay: a chargeback learnt now must not enter the past features
    assert row["u1"].label == 1 and before <= row["u1"].label_time <= after
    assert (row["u4"].label, row["u4"].label_time) == (0, None)  # a fill keeps the delay rule
    entry = next(x for x in spark.read.parquet(f"{r.output_path}/_labels_ledger").collect()
                 if x.transaction_id == "u1")  # fmt: skip
    assert (entry.kind, entry.label_time) == ("correction", entry.applied_at)
    assert entry.label_time == row["u1"].label_time


def test_a_replace_rebuild_keeps_the_corrections(spark, fed, tmp_path):
    base = _copy(fed[0], tmp_path)  # FEED applied
    late = run_labels(spark, _config(base), [_feed(base, "transaction_id,label\nu5,1\n", "b.csv")])
    assert late.labels_corrected == 1
    labelled = _labels(spark, late.output_path)
    assert labelled["u5"][0] == 1
    rebuilt = run_etl(spark, _config(base))
    assert (rebuilt.corrections_reapplied, rebuilt.labels_reapplied) == (2, 1)
    assert (rebuilt.ledger_quarantined, rebuilt.ledger_not_found) == ({}, 0)
    assert (rebuilt.input_rows, rebuilt.output_rows, rebuilt.quarantine_rows) == (5, 5, 0)
    assert _labels(spark, rebuilt.output_path) == labelled
    assert len(_ledger(spark, rebuilt.output_path)) == 3
    report = json.loads(Path(rebuilt.report_path).read_text())
    assert report["corrections_reapplied"] == 2
    again = run_etl(spark, _config(base))  # the same input and ledger: the same table
    assert _labels(spark, again.output_path) == labelled
    assert len(_ledger(spark, again.output_path)) == 3
    # etl.input now gives u2's 0 a label_time after its correction's: not re-applied
    (base / "raw" / "a.csv").write_text(HEADER + ROWS.replace(
        "2024-01-06 00:30:00", "2024-01-11 00:30:00"))  # fmt: skip
    moved = run_etl(spark, _config(base))
    assert moved.ledger_quarantined == {"correction_not_after_published_label": 1}
    assert _labels(spark, moved.output_path)["u2"] == (0, "2024-01-11 00:30:00")
    # (the quarantine also carries the rows the labels runs quarantined)
    q = [x for x in spark.read.parquet(moved.quarantine_path).collect()
         if "the label ledger" in (x.reason_detail or "")]  # fmt: skip
    assert [(x.raw_transaction_id, x.reason) for x in q] == [
        ("u2", "correction_not_after_published_label")]  # fmt: skip
    assert "not after etl.input's label 0, known at '2024-01-11 00:30:00'" in q[0].reason_detail


def test_a_ledger_written_before_corrections_is_read_as_fills(spark, published, tmp_path):
    """A ledger of the six columns before session 24 (no kind, no previous label) beside a
    new one: read together, its entries are fills, and a rebuild re-applies both."""
    base = _copy(published, tmp_path)
    table = str(base / "work" / "canonical")
    old = spark.createDataFrame(
        [("u4", 1, dt.datetime(2024, 1, 9), "old.csv", "labels-old", dt.datetime(2024, 2, 1))],
        "transaction_id string, label int, label_time timestamp, source_file string, "
        "job string, applied_at timestamp",
    )  # fmt: skip
    old.repartition(1).write.parquet(str(tmp_path / "old"))  # as a labels run moves it in
    (Path(table) / "_labels_ledger").mkdir()
    for part in (tmp_path / "old").glob("part-*.parquet"):
        part.rename(Path(table) / "_labels_ledger" / f"labels-old-{part.name}")
    fixed = run_labels(spark, _config(base), [_feed(base, "transaction_id,label\nu1,1\n")])
    assert (fixed.labels_corrected, fixed.ledger_entries_added) == (1, 1)
    rebuilt = run_etl(spark, _config(base))
    assert (rebuilt.labels_reapplied, rebuilt.corrections_reapplied) == (1, 1)
    labels = _labels(spark, rebuilt.output_path)
    assert labels["u4"] == (1, "2024-01-09 00:00:00") and labels["u1"][0] == 1
    assert [e[:2] for e in _ledger(spark, rebuilt.output_path)] == [
        ("u1", "correction"), ("u4", None)]  # fmt: skip
