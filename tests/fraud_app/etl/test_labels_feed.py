"""The labels-only feed (fraud_app.etl.labels, `fraud-app labels`): late labels fill published
unlabelled rows; the same label is a no-op, another label, an unknown id, a label_time
before the transaction, bad values and conflicting feed copies are quarantined; only the
date partitions holding a filled row are rewritten; a re-run is idempotent. Real Spark,
a canonical table published once by the real ETL and copied per test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fraud_app.config import load_config
from fraud_app.errors import SchemaError
from fraud_app.etl.labels import LabelsResult, check_accounting, run_labels
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark

TRANSACTIONS = (
    "transaction_id,card_id,timestamp,amount,label,label_time\n"
    "t1,c1,2024-01-05 10:00:00,1.5,,\n"  # unlabelled
    "t2,c1,2024-01-05 11:00:00,2.5,0,\n"  # labelled 0
    "t3,c2,2024-01-06 10:00:00,3.5,,\n"  # unlabelled
    "t4,c2,2024-01-07 10:00:00,4.5,,\n"  # unlabelled
    "t5,c3,2024-01-07 12:00:00,5.5,1,2024-01-08 00:30:00\n"  # labelled 1
)
DATES = ("2024-01-05", "2024-01-06", "2024-01-07")


@pytest.fixture(scope="module")
def published(transactions_published) -> Path:
    """TRANSACTIONS published once per test process (conftest.py); a test copies it."""
    return transactions_published


def publish_transactions(spark, base: Path) -> Path:
    """paths.root of a canonical table the ETL published (5 rows over 3 dates)."""
    (base / "raw").mkdir(parents=True)
    (base / "raw" / "a.csv").write_text(TRANSACTIONS)
    config = load_config(
        None, {"paths.root": str(base / "work"), "etl": {"input": str(base / "raw")}}
    )
    assert run_etl(spark, config).output_rows == 5
    return base / "work"


def _config(root: Path, **etl):
    return load_config(None, {"paths.root": str(root), "etl": etl})


def _root(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path / "work")  # copy2: the files keep their mtimes
    return tmp_path / "work"


def _feed(tmp_path: Path, text: str, name: str = "feed.csv") -> str:
    path = tmp_path / "feeds" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, pd.DataFrame):
        text.to_parquet(path, index=False)
    else:
        path.write_text(text)
    return str(path)


def _labels(spark, r: LabelsResult) -> dict[str, tuple]:
    rows = spark.read.parquet(r.output_path).collect()
    return {x.transaction_id: (x.label, x.label_time and str(x.label_time)) for x in rows}


def _quarantine(spark, r: LabelsResult) -> list[tuple]:
    rows = spark.read.parquet(r.quarantine_path).collect()
    return [(x.raw_transaction_id, x.raw_label, x.reason, x.reason_detail) for x in rows]


def _files(table: str) -> dict[str, dict[str, int]]:
    """date -> {part file: mtime_ns} of each partition of `table`."""
    return {
        d: {p.name: p.stat().st_mtime_ns for p in (Path(table) / f"event_date={d}").iterdir()}
        for d in DATES
    }


def _accounted(r: LabelsResult) -> None:
    assert r.input_rows == (r.labels_filled + r.labels_unchanged + r.quarantine_rows
                            + r.duplicate_rows)  # fmt: skip
    check_accounting(r)


def test_a_feed_fills_unchanged_quarantines_and_rewrites_only_its_dates(spark, published, tmp_path):
    root = _root(published, tmp_path)
    before = _files(str(root / "canonical"))
    feed = _feed(tmp_path, (
        "transaction_id,label,label_time\n"
        "t1,1,2024-01-09 00:30:00\n"  # unlabelled: filled
        "t2,0,2024-01-09 00:30:00\n"  # the same label: unchanged (label_time kept)
        "t2,0,2024-01-09 00:30:00\n"  # an identical copy: a duplicate
        "t5,0,2024-01-09 00:30:00\n"  # 1 -> 0: label_reversal_not_supported
        "t9,1,2024-01-09 00:30:00\n"  # not published: unknown_transaction
        "t3,1,2024-01-01 00:30:00\n"  # before its transaction: label_time_before_timestamp
        "t4,1,\nt4,0,\n"  # two labels for one id: both conflicting_duplicate
        "t6,maybe,\n"  # invalid_label
        ",1,\n"  # no id: missing_required_field
    ))  # fmt: skip
    r = run_labels(spark, _config(root), [feed])
    _accounted(r)
    assert (r.input_rows, r.labels_filled, r.labels_unchanged, r.duplicate_rows) == (10, 1, 1, 1)
    assert r.quarantine_by_reason == {
        "conflicting_duplicate": 2, "label_reversal_not_supported": 1, "invalid_label": 1,
        "label_time_before_timestamp": 1, "missing_required_field": 1, "unknown_transaction": 1,
    }  # fmt: skip
    assert r.partitions_rewritten == ("2024-01-05",) and not r.delay_only
    # t2 is published with label 0 and no label_time: the feed's label_time is not taken
    assert (r.label_time_changed, r.label_time_changed_example) == (
        1, "transaction_id 't2': published label_time none (null), this feed "
        "'2024-01-09 00:30:00'")  # fmt: skip
    assert (r.already_quarantined, r.ledger_entries_added) == (0, 1)
    ledger = spark.read.parquet(str(root / "canonical" / "_labels_ledger")).collect()
    assert [(x.transaction_id, x.label, str(x.label_time), x.source_file.rsplit("/", 1)[-1])
            for x in ledger] == [("t1", 1, "2024-01-09 00:30:00", "feed.csv")]  # fmt: skip
    assert _labels(spark, r) == {
        "t1": (1, "2024-01-09 00:30:00"), "t2": (0, None), "t3": (None, None),
        "t4": (None, None), "t5": (1, "2024-01-08 00:30:00"),
    }  # fmt: skip
    q = {(tid, label): (reason, detail) for tid, label, reason, detail in _quarantine(spark, r)}
    assert q[("t5", "0")] == ("label_reversal_not_supported", (
        "transaction_id 't5' is published with label 1, a known fraud from '2024-01-08 00:30:00' "
        "(its label_time); this feed says 0 (a reversal: a chargeback withdrawn): not applied, "
        "the published 1 stays. The feature step has no retraction event: a 0 would take the "
        "fraud out of the risk features of every window it was known in, rewriting past "
        "features"))  # fmt: skip
    assert q[("t9", "1")][1].startswith("transaction_id 't9' is not in the canonical table ")
    assert "run `fraud-app labels` on this feed again" in q[("t9", "1")][1]
    assert q[("t3", "1")] == ("label_time_before_timestamp", "label_time '2024-01-01 00:30:00' "
                              "is before the published timestamp '2024-01-06 10:00:00' of "
                              "transaction_id 't3'")  # fmt: skip
    assert {q[("t4", "1")][0], q[("t4", "0")][0]} == {"conflicting_duplicate"}
    assert q[("t6", "maybe")][0] == "invalid_label"
    assert q[(None, "1")] == ("missing_required_field", "missing required field(s): transaction_id")
    # only 2024-01-05 was rewritten; the other partitions keep their files
    after = _files(r.output_path)
    assert after["2024-01-05"] != before["2024-01-05"]
    assert {d: after[d] for d in DATES[1:]} == {d: before[d] for d in DATES[1:]}
    report = json.loads(Path(r.report_path).read_text())
    assert report["labels_filled"] == 1 and report["partitions_rewritten"] == ["2024-01-05"]
    assert json.loads((root / "canonical" / "_etl_report.json").read_text())["output_rows"] == 5
    assert not list((root / "canonical").glob("_staging")) and not list(root.glob("*.tmp-*"))


def test_a_rerun_is_idempotent_and_reapplies_unknown_ids_once_published(spark, published, tmp_path):
    root = _root(published, tmp_path)
    feed = _feed(tmp_path, "transaction_id,label,label_time\nt1,1,2024-01-09 00:30:00\n"
                           "t9,1,2024-01-20 00:30:00\n")  # fmt: skip
    first = run_labels(spark, _config(root), [feed])
    assert (first.labels_filled, first.quarantine_by_reason) == (1, {"unknown_transaction": 1})
    files = _files(first.output_path)
    again = run_labels(spark, _config(root), [feed])
    assert (again.labels_filled, again.labels_unchanged, again.partitions_rewritten) == (0, 1, ())
    assert _files(again.output_path) == files  # nothing rewritten
    # t9 is still unknown: counted as quarantined, but the quarantine holds it once
    assert again.quarantine_by_reason == {"unknown_transaction": 1}
    assert again.already_quarantined == 1
    assert [q[0] for q in _quarantine(spark, again)] == ["t9"]
    assert "1 quarantined (unknown_transaction 1; 1 already there from an earlier run)" in (
        again.summary())  # fmt: skip
    assert json.loads(Path(again.report_path).read_text())["already_quarantined"] == 1
    # a new bad row beside the old one: only the new one goes in
    both = _feed(tmp_path, "transaction_id,label,label_time\nt9,1,2024-01-20 00:30:00\n"
                           "t8,maybe,\n", "feed2.csv")  # fmt: skip
    more = run_labels(spark, _config(root), [both])
    assert (more.quarantine_rows, more.already_quarantined) == (2, 1)
    assert sorted(q[0] for q in _quarantine(spark, more)) == ["t8", "t9"]
    # t9's transaction arrives (unlabelled); the same feed run again now fills it
    late = tmp_path / "late"
    late.mkdir()
    (late / "b.csv").write_text(TRANSACTIONS.splitlines()[0] + "\nt9,c9,2024-01-10 09:00:00,9,,\n")
    run_etl(spark, _config(root, input=str(late), mode="append"))
    third = run_labels(spark, _config(root), [feed])
    assert (third.labels_filled, third.labels_unchanged, third.quarantine_rows) == (1, 1, 0)
    assert third.partitions_rewritten == ("2024-01-10",)
    assert _labels(spark, third)["t9"] == (1, "2024-01-20 00:30:00")
    # the same label with another label_time: unchanged, the published time kept, counted
    moved = _feed(tmp_path, "transaction_id,label,label_time\nt9,1,2024-01-25 00:30:00\n",
                  "moved.csv")  # fmt: skip
    fourth = run_labels(spark, _config(root), [moved])
    assert (fourth.labels_unchanged, fourth.label_time_changed) == (1, 1)
    assert fourth.label_time_changed_example == (
        "transaction_id 't9': published label_time '2024-01-20 00:30:00', this feed "
        "'2024-01-25 00:30:00'")  # fmt: skip
    assert "1 unchanged (1 with another label_time, published one kept)" in fourth.summary()
    assert _labels(spark, fourth)["t9"] == (1, "2024-01-20 00:30:00")


def test_a_delay_only_parquet_feed_with_own_names_and_label_words(spark, published, tmp_path):
    root = _root(published, tmp_path)
    frame = pd.DataFrame({"txn": ["t1", "t3", "t4"], "status": ["Chargeback", "genuine", "1"]})
    feed = _feed(tmp_path, frame, "cb.parquet")
    config = _config(root, columns={"transaction_id": "txn", "label": "status"},
                     label_values={"chargeback": 1, "genuine": 0})  # fmt: skip
    r = run_labels(spark, config, [feed])
    _accounted(r)
    assert (r.labels_filled, r.delay_only, r.quarantine_rows) == (3, True, 0)
    assert r.partitions_rewritten == DATES
    labels = _labels(spark, r)
    assert {t: labels[t] for t in ("t1", "t3", "t4")} == {
        "t1": (1, None), "t3": (0, None), "t4": (1, None)}  # fmt: skip


def test_a_feed_without_transaction_id_is_one_schema_error(spark, published, tmp_path):
    root = _root(published, tmp_path)
    feed = _feed(tmp_path, "id,label\nt1,1\n")
    with pytest.raises(SchemaError, match=r"label feed .*feed.csv lacks column\(s\) transaction_id "
                       r"\(looked for 'transaction_id'\)\. Columns present: \['id', 'label'\]\. "
                       r"Expected transaction_id, label and optionally label_time"):  # fmt: skip
        run_labels(spark, _config(root), [feed])
    assert not list((root / "canonical").glob("_labels_report.json"))


def test_several_feeds_csv_and_json_with_and_without_label_time(spark, published, tmp_path):
    root = _root(published, tmp_path)
    csv = _feed(tmp_path, "transaction_id,label,label_time\nt1,1,2024-01-10\nt4,1,2024-01-10\n")
    js = _feed(tmp_path, '{"transaction_id": "t3", "label": "yes"}\n'
                         '{"transaction_id": "t4", "label": 1}\n', "b.json")  # fmt: skip
    r = run_labels(spark, _config(root, label_time_format="yyyy-MM-dd"), [csv, js])
    _accounted(r)
    assert (r.input_rows, r.labels_filled, r.delay_only) == (4, 2, False)
    # t4: with a label_time in one feed and without in the other: two versions, none applied
    assert r.quarantine_by_reason == {"conflicting_duplicate": 2}
    assert r.partitions_rewritten == ("2024-01-05", "2024-01-06")
    labels = _labels(spark, r)
    assert {t: labels[t] for t in ("t1", "t3", "t4")} == {
        "t1": (1, "2024-01-10 23:59:59.999999"), "t3": (1, None), "t4": (None, None)}  # fmt: skip
    sources = {x.raw_label_time: x.source_file.rsplit("/", 1)[-1]
               for x in spark.read.parquet(r.quarantine_path).collect()}  # fmt: skip
    assert sources == {"2024-01-10": "feed.csv", None: "b.json"}


def test_a_feed_with_canonical_names_is_read_when_etl_columns_maps_the_exports(
    spark, published, tmp_path
):
    """etl.columns maps the transactions' export (txn_id, is_fraud, label_ts); a chargeback
    feed from another system names its columns transaction_id, label, label_time: it was a
    SchemaError that suggested mapping the names the config already maps."""
    root = _root(published, tmp_path)
    config = _config(root, columns={"transaction_id": "txn_id", "label": "is_fraud",
                                    "label_time": "label_ts"})  # fmt: skip
    feed = _feed(tmp_path, "transaction_id,label,label_time\nt1,1,2024-01-09 00:30:00\n")
    r = run_labels(spark, config, [feed])
    assert (r.labels_filled, r.delay_only) == (1, False)
    assert _labels(spark, r)["t1"] == (1, "2024-01-09 00:30:00")
    bad = _feed(tmp_path, "txn,label\nt3,1\n", "bad.csv")
    with pytest.raises(SchemaError, match=(
        r"lacks column\(s\) transaction_id \(looked for 'txn_id', as etl.columns maps it, or "
        r"'transaction_id'\)\. Columns present: \['label', 'txn'\]")):  # fmt: skip
        run_labels(spark, config, [bad])


def test_a_feed_onto_a_table_read_with_midnight_dates_is_named(spark, published, tmp_path, caplog):
    # session 51: a feed reads a date-only label_time as its day's end (review51c); an ETL
    # append onto a table whose last run read such dates as midnight was named, a labels
    # feed was not: the table held both readings without a word
    root = _root(published, tmp_path)
    feed = _feed(tmp_path, "transaction_id,label,label_time\nt1,1,2024-01-09\n")
    with caplog.at_level("WARNING", logger="fraud_app.etl.pipeline"):
        run_labels(spark, _config(root), [feed])  # the table's own reading: nothing said
    assert "as their midnight" not in caplog.text
    report = root / "canonical" / "_etl_report.json"
    old = json.loads(report.read_text())
    del old["label_time_reading"]  # a table built before review51c
    report.write_text(json.dumps(old))
    (report.parent / f".{report.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of it
    feed = _feed(tmp_path, "transaction_id,label,label_time\nt3,1,2024-01-09\n", "f2.csv")
    with caplog.at_level("WARNING", logger="fraud_app.etl.pipeline"):
        r = run_labels(spark, _config(root), [feed])
    assert r.labels_filled == 1
    assert "read such dates as their midnight (date_only_midnight)" in caplog.text
