"""A deployment run daily for months: the files `etl --mode append` and `fraud-app labels`
leave stay bounded (etl.compact_files). Each such run added one small file to the
quarantine and one to the label ledger, kept forever and read by every later run (365 a
year in each); now, past etl.compact_files files, the run's commit rewrites them as one,
nothing lost: every quarantined row and ledger entry is still there, and a replace rebuild
re-applies every fill and carries every row the label feeds quarantined (their `labels-`
files, which a rewrite keeps apart; a quarantine widened by a new input column lost those
names, so the rebuild dropped them). The canonical date partitions need no compaction:
each run rewrites a date it touches as one file. Real Spark, the real ETL and labels runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label,label_time\n"
# 3 days at etl.compact_files 2: without compaction 6 quarantine files and 3 ledger files.
# With it the ledger is rewritten as one file on day 3 (<= 2 files); the quarantine from
# day 1's labels run on (a rewrite of rewritten files included): a rewrite leaves two files
# (the rows `labels` runs quarantined are kept apart) and the run's own file goes in beside
# them, so it holds <= compact_files + 1 = 3. Each day is an ETL and a labels run: 6 days
# took 14 runs, 4 took 10 (docs/PROBES.md, session 37), 3 take 8 (session 46).
COMPACT = 2
DAYS = 3


def _config(tmp_path: Path, raw: Path, **etl):
    etl = {"input": str(raw), **etl}
    return load_config(None, {"paths.root": str(tmp_path / "work"), "etl": etl})


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _day(i: int) -> str:
    """Delivery i: a new unlabelled transaction and a record the rules quarantine."""
    return (
        HEADER
        + f"d{i},c{i},2024-01-{10 + i:02d} 10:00:00,{i}.5,,\nx{i},c{i},2024-01-{10 + i:02d} 11:00:00,abc,,\n"
    )


def _data_files(folder: Path) -> dict[str, int]:
    """Data files per folder under `folder` (its own files under '.')."""
    found: dict[str, int] = {}
    for f in folder.rglob("*.parquet"):
        if not any(part.startswith((".", "_")) for part in f.relative_to(folder).parts[:-1]):
            key = str(f.parent.relative_to(folder))
            found[key] = found.get(key, 0) + 1
    return found


@pytest.fixture(scope="module")
def first(spark, tmp_path_factory) -> Path:
    """The first delivery (one unlabelled transaction, d0) published (replace) once for the
    module under <base>/work; the delivery's file. A test works on its own copy (_copy)."""
    base = tmp_path_factory.mktemp("first")
    first = _write(base / "raw0" / "a.csv", HEADER + "d0,c0,2024-01-10 09:00:00,0.5,,\n")
    run_etl(spark, _config(base, first.parent))
    return first


def _copy(first: Path, tmp_path: Path) -> None:
    """The table `first` published, as tmp_path/work (copy2: the files keep their mtimes)."""
    shutil.copytree(first.parent.parent / "work", tmp_path / "work")


def _daily_cycle(spark, tmp_path: Path, first: Path, **etl):
    """The first delivery published (a copy of `first`'s table), then DAYS days of: an
    append of that day's delivery, a labels feed filling yesterday's transaction and naming
    an unknown one."""
    _copy(first, tmp_path)
    for i in range(1, DAYS + 1):
        delivery = _write(tmp_path / f"raw{i}" / "a.csv", _day(i))
        run_etl(spark, _config(tmp_path, delivery.parent, mode="append", **etl))
        feed = _write(tmp_path / "feeds" / f"{i}.csv", "transaction_id,label,label_time\n"
                      f"d{i - 1},1,2024-01-{10 + i:02d} 12:00:00\nunknown{i},1,\n")  # fmt: skip
        fed = run_labels(spark, _config(tmp_path, delivery.parent, **etl), [str(feed)])
        assert (fed.labels_filled, fed.quarantine_rows) == (1, 1)


def test_daily_appends_and_feeds_keep_the_quarantine_and_ledger_files_bounded(
    spark, tmp_path, first
):
    _daily_cycle(spark, tmp_path, first, compact_files=COMPACT)
    work = tmp_path / "work"
    quarantine, ledger = (
        _data_files(work / "quarantine"),
        _data_files(work / "canonical" / "_labels_ledger"),
    )
    # each run added one file to each: 2 * DAYS quarantine files and DAYS ledger files before
    assert sum(quarantine.values()) <= COMPACT + 1 < 2 * DAYS, quarantine
    assert sum(ledger.values()) <= COMPACT < DAYS, ledger
    # one file per date partition, however many runs touched the date
    dates = {
        k: v for k, v in _data_files(work / "canonical").items() if k.startswith("event_date=")
    }
    assert len(dates) == DAYS + 1 and set(dates.values()) == {1}, dates
    # nothing lost: every quarantined row, every ledger entry
    rows = spark.read.parquet(str(work / "quarantine")).collect()
    assert sorted(r.raw_transaction_id for r in rows) == sorted(
        [f"x{i}" for i in range(1, DAYS + 1)] + [f"unknown{i}" for i in range(1, DAYS + 1)]
    )
    entries = spark.read.parquet(str(work / "canonical" / "_labels_ledger")).collect()
    assert sorted(e.transaction_id for e in entries) == [f"d{i}" for i in range(DAYS)]
    # a rebuild from a delivery of every transaction, unlabelled: the ledger's labels come
    # back, and the rows the feeds quarantined are carried over (their files kept apart)
    everything = (
        HEADER
        + first.read_text().split("\n", 1)[1]
        + "".join(_day(i).split("\n", 1)[1] for i in range(1, DAYS + 1))
    )
    raw = _write(tmp_path / "all" / "a.csv", everything)
    rebuilt = run_etl(spark, _config(tmp_path, raw.parent, compact_files=COMPACT))
    assert rebuilt.labels_reapplied == DAYS
    assert rebuilt.label_feed_quarantine_kept == DAYS


def test_a_widened_quarantine_keeps_the_rows_label_feeds_quarantined(spark, tmp_path, first):
    """A delivery with a column the quarantine lacks rewrites it; the rows `labels` runs
    quarantined keep their `labels-` names, so a replace rebuild still carries them."""
    _copy(first, tmp_path)
    feed = _write(tmp_path / "feed.csv", "transaction_id,label,label_time\nunknown1,1,\n")
    assert run_labels(spark, _config(tmp_path, first.parent), [str(feed)]).quarantine_rows == 1
    wider = _write(tmp_path / "raw1" / "a.csv", "transaction_id,card_id,timestamp,amount,note\n"
                   "x1,c1,2024-01-11 11:00:00,abc,late\n")  # fmt: skip
    run_etl(spark, _config(tmp_path, wider.parent, mode="append"))
    rebuilt = run_etl(spark, _config(tmp_path, first.parent))
    assert rebuilt.label_feed_quarantine_kept == 1
