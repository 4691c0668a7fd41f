"""A delivery of many small CSV files: every file's header is still checked, but Spark
parses each distinct header line once (fraud_app.etl.reader.csv_headers), not once per
file. Session 30 (helper probe30a): 2,923 five-row files were 2,923 Spark jobs, ~11 minutes
on local[2] before the first row was read. Real local Spark, real files."""

from __future__ import annotations

import gzip

import pytest

from fraud_app.errors import SchemaError
from fraud_app.etl.config import EtlSection
from fraud_app.etl.reader import csv_headers, read_input

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,amount\n"


def _delivery(folder, n: int) -> None:
    folder.mkdir()
    for i in range(n):
        (folder / f"part-{i:04d}.csv").write_text(HEADER + f"t{i}a,c{i},1.5\nt{i}b,c{i},2.5\n")


def _jobs(spark, fn):
    """fn's result and the Spark jobs it ran, from any thread (the header reads run in a
    thread pool, whose jobs carry no job group of the caller's)."""
    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup(None))
    out = fn()
    return out, len(set(tracker.getJobIdsForGroup(None)) - before)


def test_many_files_of_one_header_cost_one_header_job(spark, tmp_path):
    folder = tmp_path / "in"
    _delivery(folder, 150)
    # the same names in another order, a gzip file, an empty file, a header without a
    # line break: each its own read, every one still checked
    (folder / "reordered.csv").write_text("amount,transaction_id,card_id\n3.5,r1,c1\n")
    with gzip.open(folder / "packed.csv.gz", "wt") as f:
        f.write(HEADER + "g1,c1,4.5\n")
    (folder / "empty.csv").write_text("")
    (folder / "only-header.csv").write_text(HEADER.rstrip("\n"))
    cfg = EtlSection()
    groups, jobs = _jobs(spark, lambda: csv_headers(spark, str(folder), cfg))
    # was: 154 jobs, one per file (the empty one too)
    assert jobs <= 4, jobs  # the plain header (shared with the .gz), reordered, empty, no break
    plain = ("transaction_id", "card_id", "amount")
    assert set(groups) == {plain, ("amount", "transaction_id", "card_id")}
    assert len(groups[plain]) == 152  # 150 parts + the .gz + the header-only file
    assert any(f.endswith("packed.csv.gz") for f in groups[plain])
    df, _ = read_input(spark, str(folder), cfg)
    assert df.count() == 150 * 2 + 1 + 1


def test_a_file_whose_header_differs_is_still_named(spark, tmp_path):
    folder = tmp_path / "in"
    _delivery(folder, 60)
    (folder / "part-0031.csv").write_text("transaction_id,card,amount\nx,c,1\n")
    with pytest.raises(SchemaError, match=r"ETL input file .*part-0031\.csv: its header"):
        read_input(spark, str(folder), EtlSection())


def test_a_quoted_header_field_across_lines_is_read_by_spark(spark, tmp_path):
    # the first physical lines are equal, the headers are not: never keyed by that line
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text('transaction_id,"card\nid",amount\nt1,c1,1\n')
    (folder / "b.csv").write_text('transaction_id,"card\nnumber",amount\nt2,c2,1\n')
    groups = csv_headers(spark, str(folder), EtlSection(csv_multiline=True))
    assert len(groups) == 2, groups
