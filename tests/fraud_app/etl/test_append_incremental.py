"""etl.mode: append rewrites only the date partitions that receive new rows (and adds one
quarantine file), with the same table and the same duplicate classification as an
append against the whole published table (the old implementation, computed here with
the pure steps); only-duplicate deliveries rewrite nothing; a published table of another
schema is a clear error; a run killed inside its commit converges on a re-run. The first
delivery is published once per policy for the module; each test appends to its own copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.config import load_config
from fraud_app.errors import DataIntegrityError, SchemaError
from fraud_app.etl import dedup
from fraud_app.etl.partition_swap import PartitionSwap
from fraud_app.etl.pipeline import annotate_rows, deduplicate, run_etl
from fraud_app.etl.reader import read_input

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,merchant_id,timestamp,amount,label"
NAMES = dedup.CANONICAL_NAMES


def _row(tid: str, day: int, amount: str = "1.5", hour: int = 10) -> str:
    return f"{tid},c1,m1,2024-01-{day:02d} {hour:02d}:00:00,{amount},0"


def _write(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _cfg(tmp_path: Path, src: Path, policy: str = "keep_earliest"):
    etl = {"input": str(src), "timestamp_format": "yyyy-MM-dd HH:mm:ss", "mode": "append",
           "conflicting_duplicates": policy}  # fmt: skip
    return load_config(None, {"paths.root": str(tmp_path / "work"), "etl": etl})


def _files(folder: Path) -> dict[str, int]:
    """Every data file under `folder` (relative name -> mtime in ns)."""
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in folder.rglob("*.parquet")
        if not any(part.startswith("_") for part in p.relative_to(folder).parts)
    }


def _table(spark, path: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.read.parquet(path).select(*NAMES).collect())


def _first_delivery(tmp_path: Path) -> Path:
    # t0 t1 on 01-01, t2 t3 on 01-02, t4 t5 on 01-03, t6 t7 on 01-04, one bad row
    rows = [_row(f"t{i}", 1 + i // 2, f"{i}.5") for i in range(8)] + [_row("bad0", 1, "x")]
    return _write(tmp_path / "d1" / "a.csv", rows)


def publish_first(spark, base: Path, policy: str = "keep_earliest") -> Path:
    """base/work: the first delivery published by an append with no table yet (as
    replace): t0..t7 on 2024-01-01..04, bad0 quarantined."""
    first = run_etl(spark, _cfg(base, _first_delivery(base), policy))
    assert (first.output_rows, first.quarantine_rows, first.previous_rows) == (8, 1, 0)
    assert (first.rekeyed_copies, first.backfilled_dates) == (0, ())
    return base / "work"


def copy_published(work: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of a published root `work` as tmp_path/work (copy2: the files keep their
    mtimes), for one test: its (canonical table, quarantine)."""
    shutil.copytree(work, tmp_path / "work")
    return tmp_path / "work" / "canonical", tmp_path / "work" / "quarantine"


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory, first_delivery_published):
    """The first delivery published once per conflicting_duplicates policy, for the module
    (the default policy's once per test process: conftest.py); a test works on its own
    copy (copy_published)."""
    done: dict[str, Path] = {"keep_earliest": first_delivery_published / "work"}

    def first(policy: str = "keep_earliest") -> Path:
        if policy not in done:
            done[policy] = publish_first(spark, tmp_path_factory.mktemp(f"first-{policy}"), policy)
        return done[policy]

    return first


def _old_append(spark, cfg, table: str):
    """The table and the new rows' classes of an append against the WHOLE published
    table, as etl.mode: append did before it became incremental."""
    published = spark.createDataFrame(spark.read.parquet(table).select(*NAMES).collect(),
                                      spark.read.parquet(table).select(*NAMES).schema)  # fmt: skip
    raw, _ = read_input(spark, cfg.etl.input, cfg.etl)
    classified = deduplicate(
        annotate_rows(raw, cfg.etl, "test"), cfg.etl.conflicting_duplicates, published
    ).collect()
    keep = sorted(tuple(r[c] for c in NAMES) for r in classified if r[dedup.CLASS] == dedup.KEEP)
    new = sorted((r.transaction_id, r[dedup.CLASS]) for r in classified if not r[dedup.PUBLISHED])
    return keep, new


@pytest.mark.parametrize("policy", ["keep_earliest", "quarantine_all"])
def test_append_rewrites_only_the_dates_with_new_rows_and_matches_a_whole_table_append(
    spark, tmp_path, published, policy
) -> None:
    table, quarantine = copy_published(published(policy), tmp_path)  # (8, 1, 0) rows
    before, q_before = _files(table), _files(quarantine)
    second = [
        _row("t0", 1, "0.5"),  # identical to a published row: a duplicate, 01-01 untouched
        _row("t2", 3, "2.5"),  # published on 01-02, now dated 01-03: a conflict
        _row("t3", 2, "9.75"),  # published with another amount: a conflict
        _row("t20", 2, "20.5", hour=23),  # a late row for an old date: 01-02 rewritten
        _row("t21", 5),  # a new day
        _row("t22", 5, "2"), _row("t22", 5, "2.0"),  # an identical copy inside the input
        _row("t23", 5, "3", hour=8), _row("t23", 5, "4", hour=9),  # two new versions
        _row("bad1", 4, "y"),  # quarantined; 01-04 untouched
    ]  # fmt: skip
    cfg = _cfg(tmp_path, _write(tmp_path / "d2" / "b.csv", second), policy)
    expected_table, expected_classes = _old_append(spark, cfg, str(table))

    r = run_etl(spark, cfg)

    assert _table(spark, r.output_path) == expected_table
    classes = [c for _, c in expected_classes]
    assert r.duplicate_rows == classes.count(dedup.EXACT) == 2
    conflicts = classes.count(dedup.CONFLICT)
    assert r.quarantine_by_reason == {"conflicting_duplicate": conflicts, "non_numeric_amount": 1}
    assert (r.input_rows, r.previous_rows) == (10, 8)
    assert r.output_rows == len(expected_table) == 8 + 3 + (policy == "keep_earliest")
    after = _files(table)
    untouched = {k: v for k, v in before.items() if not k.startswith("event_date=2024-01-02")}
    assert {k: after.get(k) for k in untouched} == untouched  # same names, same mtimes
    assert sorted({k.split("/")[0] for k in set(after) - set(before)}) == [
        "event_date=2024-01-02", "event_date=2024-01-05"]  # fmt: skip
    assert not (table / "_staging").exists() and not (quarantine / "_staging").exists()
    # the quarantine: the earlier file as it was, this run's rows in one new file
    q_after = _files(quarantine)
    assert {k: q_after.get(k) for k in q_before} == q_before and len(q_after) == len(q_before) + 1
    rows = spark.read.parquet(str(quarantine)).collect()
    assert sorted(q.raw_transaction_id for q in rows if q.reason == "conflicting_duplicate") == (
        sorted(t for t, c in expected_classes if c == dedup.CONFLICT)
    )
    assert sorted(q.raw_transaction_id for q in rows if q.reason == "non_numeric_amount") == [
        "bad0", "bad1"]  # fmt: skip
    report = json.loads(Path(r.report_path).read_text())
    assert (report["previous_rows"], report["output_rows"]) == (8, r.output_rows)


def test_a_delivery_of_duplicates_only_rewrites_nothing(spark, tmp_path, published) -> None:
    table, quarantine = copy_published(published(), tmp_path)
    before, q_before = _files(table), _files(quarantine)
    again = _write(tmp_path / "d2" / "b.csv", [_row("t1", 1, "1.5"), _row("t6", 4, "6.5")])

    r = run_etl(spark, _cfg(tmp_path, again))

    assert (r.output_rows, r.previous_rows, r.duplicate_rows, r.quarantine_rows) == (8, 8, 2, 0)
    assert _files(table) == before and _files(quarantine) == q_before
    assert sorted(p.name for p in table.iterdir() if p.name[0] != ".") == [
        "_etl_report.json", "_files.json"] + [f"event_date=2024-01-0{d}" for d in range(1, 5)]  # fmt: skip


def test_a_published_table_of_another_schema_is_a_clear_error(spark, tmp_path, published) -> None:
    table, _ = copy_published(published(), tmp_path)
    # 01-02 rewritten by another tool with `amount` as text
    part = str(table / "event_date=2024-01-02")
    drifted = spark.read.parquet(part).withColumn("amount", F.col("amount").cast("string"))
    drifted.write.parquet(str(tmp_path / "drifted"))
    for f in (table / "event_date=2024-01-02").iterdir():
        f.unlink()
    (table / "event_date=2024-01-02").rmdir()
    (tmp_path / "drifted").rename(table / "event_date=2024-01-02")
    late = _write(tmp_path / "d2" / "b.csv", [_row("t30", 2)])
    # not the files the ETL recorded (session 30): refused naming them; once the user
    # accepts the table as it is (its _files.json deleted), the schema is named
    with pytest.raises(DataIntegrityError, match=r"its data files are not the ones"):
        run_etl(spark, _cfg(tmp_path, late))
    (table / "_files.json").unlink()
    before = _files(table)

    with pytest.raises(SchemaError, match=(
        r"published canonical table .* does not have the schema this ETL writes: \S+"
        r"event_date=2024-01-02/part-\S+ stores column \[amount\] as BINARY, expected "
        r"double .* Rebuild the table with etl.mode: replace")):  # fmt: skip
        run_etl(spark, _cfg(tmp_path, late))
    assert _files(table) == before and not (table / "_staging").exists()


def test_a_run_killed_inside_its_commit_converges_on_a_re_run(
    spark, tmp_path, published, monkeypatch
) -> None:
    table, _ = copy_published(published(), tmp_path)
    delivery = [_row("t40", 1), _row("t41", 2), _row("t42", 6), _row("bad2", 6, "z")]
    cfg = _cfg(tmp_path, _write(tmp_path / "d2" / "b.csv", delivery))
    expected, _ = _old_append(spark, cfg, str(table))
    real_swap, calls = PartitionSwap.swap, []

    def dies_between_renames(self, day):  # like kill -9 after the 2nd date's 1st rename
        calls.append(day)
        if len(calls) == 2:
            self.fs.mkdirs(self.old)
            self.fs.rename(f"{self.output}/event_date={day}", f"{self.old}/event_date={day}")
            raise KeyboardInterrupt("killed")
        return real_swap(self, day)

    monkeypatch.setattr(PartitionSwap, "swap", dies_between_renames)
    with pytest.raises(KeyboardInterrupt):
        run_etl(spark, cfg)
    monkeypatch.setattr(PartitionSwap, "swap", real_swap)
    # 01-01 swapped in with t40; 01-02 is only in the staging's `old`; 01-04 untouched
    assert "t40" in {r.transaction_id for r in spark.read.parquet(str(table)).collect()}
    assert not (table / "event_date=2024-01-02").exists()

    r = run_etl(spark, cfg)

    assert _table(spark, r.output_path) == expected
    # the killed run's 01-01 taken back out first: t40 is added, as by the uninterrupted run
    # (it counted as 1 duplicate row, which the delivery did not hold)
    assert (r.duplicate_rows, r.quarantine_by_reason) == (0, {"non_numeric_amount": 1})
    assert r.output_rows - r.previous_rows == 3
    bad = [q.raw_transaction_id for q in spark.read.parquet(r.quarantine_path).collect()]
    assert sorted(bad) == ["bad0", "bad2"]  # the killed run added no quarantine file
    assert not (table / "_staging").exists()


def test_every_quarantine_file_has_the_columns_of_every_delivery(
    spark, tmp_path, published
) -> None:
    # a delivery with a column the quarantine lacks rewrites it once with both sets of
    # raw_ columns; one with fewer columns adds a file with the missing ones as nulls, so
    # a reader without mergeSchema (Spark, pyarrow) sees every column of every row
    _, quarantine = copy_published(published(), tmp_path)
    wider = tmp_path / "d2" / "b.csv"
    wider.parent.mkdir()
    wider.write_text(f"{HEADER},device_id\n{_row('bad3', 6, 'q')},dev3\n{_row('t50', 6)},dev4\n")
    second = run_etl(spark, _cfg(tmp_path, wider))
    assert second.quarantine_by_reason == {"non_numeric_amount": 1}
    narrow = _write(tmp_path / "d3" / "c.csv", [_row("bad4", 7, "r")])
    third = run_etl(spark, _cfg(tmp_path, narrow))
    assert (third.quarantine_rows, third.previous_rows, third.output_rows) == (1, 9, 9)
    files = sorted(quarantine.glob("*.parquet"))
    schemas = {tuple(spark.read.parquet(str(f)).columns) for f in files}
    assert len(files) >= 2 and len(schemas) == 1 and "raw_device_id" in schemas.pop()
    rows = {q.raw_transaction_id: q for q in spark.read.parquet(str(quarantine)).collect()}
    assert sorted(rows) == ["bad0", "bad3", "bad4"]
    assert (rows["bad3"].raw_device_id, rows["bad4"].raw_device_id) == ("dev3", None)
    assert rows["bad4"].reason_detail.startswith("amount 'r'")
