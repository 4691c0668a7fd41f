"""The label ledger (fraud_app.etl.ledger): labels a `fraud-app labels` feed filled in survive
an `etl.mode: replace` rebuild (they were lost without a word): re-applied to unlabelled
rows; a raw file that now gives another label, or a later timestamp, puts the entry in the
quarantine; an entry whose transaction the rebuild lacks stays in the ledger and applies
once a rebuild holds it. Real Spark, the real ETL and labels runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label,label_time\n"
FIRST = (
    "a1,c1,2024-01-05 10:00:00,1.5,,\n"
    "a2,c1,2024-01-05 11:00:00,2.5,0,\n"
    "a3,c2,2024-01-06 10:00:00,3.5,,\n"
    "a4,c2,2024-01-07 10:00:00,4.5,,\n"
    "a5,c3,2024-01-07 12:00:00,5.5,,\n"
)
# the rebuild's input: a3 now labelled 1 by the raw file, a4 moved after its feed label's
# time, a5 gone
SECOND = (
    "a1,c1,2024-01-05 10:00:00,1.5,,\n"
    "a2,c1,2024-01-05 11:00:00,2.5,0,\n"
    "a3,c2,2024-01-06 10:00:00,3.5,1,2024-01-08 00:30:00\n"
    "a4,c2,2024-01-10 10:00:00,4.5,,\n"
)


def _config(tmp_path: Path, **etl):
    etl = {"input": str(tmp_path / "raw"), **etl}
    return load_config(None, {"paths.root": str(tmp_path / "work"), "etl": etl})


def _raw(tmp_path: Path, rows: str) -> None:
    (tmp_path / "raw").mkdir(exist_ok=True)
    (tmp_path / "raw" / "a.csv").write_text(HEADER + rows)


def published_then_fed(spark, first_published: Path, tmp_path: Path, feed_rows: str):
    """FIRST published by a replace ETL run (a copy of the `first_published` fixture's raw/
    and work/ as tmp_path's: that run is made once per test process), then a `fraud-app
    labels` run of feed.csv (transaction_id,label,label_time + `feed_rows`): (the labels
    run's result, feed.csv)."""
    shutil.copytree(first_published, tmp_path, dirs_exist_ok=True)  # copy2: mtimes kept
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label,label_time\n" + feed_rows)
    return run_labels(spark, _config(tmp_path), [str(feed)]), feed


def _labels(spark, table: str) -> dict[str, tuple]:
    rows = spark.read.parquet(table).collect()
    return {x.transaction_id: (x.label, x.label_time and str(x.label_time)) for x in rows}


def test_a_replace_rebuild_reapplies_feed_labels_and_quarantines_the_conflicts(
    spark, first_published, tmp_path
):
    fed, feed = published_then_fed(spark, first_published, tmp_path, "a1,1,2024-01-09 00:30:00\n"
                                   "a3,0,2024-01-09 00:30:00\na4,1,2024-01-09 00:30:00\na5,1,\n")  # fmt: skip
    assert (fed.labels_filled, fed.ledger_entries_added) == (4, 4)

    _raw(tmp_path, SECOND)
    rebuilt = run_etl(spark, _config(tmp_path))
    assert (rebuilt.labels_reapplied, rebuilt.ledger_not_found) == (1, 1)
    assert rebuilt.ledger_quarantined == {"conflicting_label": 1, "label_time_before_timestamp": 1}
    # the input's own accounting is untouched: 4 records, 4 rows, nothing quarantined
    assert (rebuilt.input_rows, rebuilt.output_rows, rebuilt.quarantine_rows) == (4, 4, 0)
    assert rebuilt.unlabelled_rows == 1  # a4; a1 got its feed label back
    assert _labels(spark, rebuilt.output_path) == {
        "a1": (1, "2024-01-09 00:30:00"), "a2": (0, None),
        "a3": (1, "2024-01-08 00:30:00"), "a4": (None, None),
    }  # fmt: skip
    quarantined = {
        q.raw_transaction_id: (q.raw_label, q.raw_label_time, q.reason, q.reason_detail,
                               q.source_file)
        for q in spark.read.parquet(rebuilt.quarantine_path).collect()
    }  # fmt: skip
    src = quarantined["a3"][4]  # the feed file, as Spark names it (a URI)
    assert src.endswith(f"{feed}")
    assert quarantined["a3"] == (
        "0", "2024-01-09 00:30:00", "conflicting_label",
        f"transaction_id 'a3' is published with label 1 by etl.input; the label ledger (a "
        f"`fraud-app labels` feed, {src}) says 0: etl.input's label stays, the ledger's "
        "is not applied", src,
    )  # fmt: skip
    assert quarantined["a4"][2:4] == (
        "label_time_before_timestamp",
        f"label_time '2024-01-09 00:30:00' from the label ledger (a `fraud-app labels` feed, "
        f"{src}) is before the timestamp '2024-01-10 10:00:00' etl.input now gives "
        "transaction_id 'a4'; its label 1 is not applied",
    )  # fmt: skip
    assert set(quarantined) == {"a3", "a4"}
    report = json.loads(Path(rebuilt.report_path).read_text())
    assert (report["labels_reapplied"], report["ledger_not_found"]) == (1, 1)
    ledger = Path(rebuilt.output_path) / "_labels_ledger"
    assert sorted(x.transaction_id for x in spark.read.parquet(str(ledger)).collect()) == [
        "a1", "a3", "a4", "a5"]  # fmt: skip

    # a5 delivered again (unlabelled): the next rebuild gives it its feed label; the same
    # conflicts as before, once each (replace rewrites the quarantine)
    _raw(tmp_path, SECOND + "a5,c3,2024-01-07 12:00:00,5.5,,\n")
    again = run_etl(spark, _config(tmp_path))
    assert (again.labels_reapplied, again.ledger_not_found) == (2, 0)
    assert again.ledger_quarantined == rebuilt.ledger_quarantined
    assert _labels(spark, again.output_path)["a5"] == (1, None)
    assert spark.read.parquet(again.quarantine_path).count() == 2
    assert not list(tmp_path.glob("work/*.tmp-*")) and not list(tmp_path.glob("work/*.old-*"))


def test_without_a_ledger_a_replace_run_is_as_before_and_append_keeps_it(spark, tmp_path):
    _raw(tmp_path, FIRST)
    first = run_etl(spark, _config(tmp_path))
    assert (first.labels_reapplied, first.ledger_quarantined, first.ledger_not_found) == (0, {}, 0)
    assert not (Path(first.output_path) / "_labels_ledger").exists()
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label\na1,1\n")
    run_labels(spark, _config(tmp_path), [str(feed)])
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "b.csv").write_text(HEADER + "a6,c4,2024-01-08 10:00:00,6.5,,\n")
    appended = run_etl(spark, _config(tmp_path, input=str(tmp_path / "new"), mode="append"))
    assert appended.labels_reapplied == 0  # append never rebuilds: the table keeps the label
    labels = _labels(spark, appended.output_path)
    assert (labels["a1"], labels["a6"]) == ((1, None), (None, None))
    assert (Path(appended.output_path) / "_labels_ledger").is_dir()
