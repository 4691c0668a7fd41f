"""A run's quarantine rows per reason (and a detail of each) are observed as the quarantine
file is written (fraud_app.etl.quarantine_counts): no Spark job of their own, where a
group-by over the written file was 2 on every run; a run without conflicting copies joins
none back (a broadcast of the empty conflicts was one more). The counts stay those of a
group-by of the rows written. Jobs counted with the status tracker around the whole run
(session 43, helper etljobs43: docs/PROBES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.card_masking import mask_pans
from fraud_app.config import load_config
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.rules import DETAIL, REASON
from tests.spark_jobs import counted_jobs

pytestmark = pytest.mark.spark

HEADER = "transaction_id,card_id,timestamp,amount,label,label_time\n"
# 4 clean rows, 4 a rule rejects (3 reasons, one of them twice), no two rows share an id
FIRST = HEADER + (
    "t1,c1,2024-01-05 10:00:00,1.5,0,\n"
    "t2,c1,2024-01-05 11:00:00,2.5,0,\n"
    "t3,c2,2024-01-06 10:00:00,3.5,,\n"
    "t4,c2,2024-01-07 10:00:00,4.5,1,2024-01-08 00:30:00\n"
    "t5,c3,2024-01-07 12:00:00,abc,0,\n"
    "t6,c3,2024-01-07 13:00:00,x1,0,\n"
    "t7,,2024-01-07 14:00:00,1.0,0,\n"
    "t8,c4,2024-01-07 15:00:00,2.0,7,\n"
)
# a new row, a rejected one, and two versions of t1 that differ from the published one
APPEND = HEADER + (
    "t9,c5,2024-01-08 09:00:00,6.5,,\n"
    "t10,c5,2024-01-08 10:00:00,zz,,\n"
    "t1,c1,2024-01-05 10:00:00,9.5,0,\n"
    "t1,c1,2024-01-05 10:00:00,8.5,0,\n"
)


def _run(spark, root: Path, src: Path, **etl):
    """run_etl and the Spark jobs it fired (its job group's, from the status tracker)."""
    config = load_config(None, {"paths.root": str(root), "etl": {"input": str(src), **etl}})
    return counted_jobs(spark, "run_etl", lambda: run_etl(spark, config))


def _grouped(rows) -> tuple[dict, dict]:
    """The question asked as before: a group-by of the quarantine rows written."""
    counted = rows.groupBy(REASON).agg(F.count(F.lit(1)), F.min(DETAIL)).collect()
    return {r[0]: r[1] for r in counted}, {str(r[0]): mask_pans(r[2]) for r in counted}


def _delivery(tmp_path: Path, name: str, text: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.csv").write_text(text)
    return folder


def test_a_first_load_counts_its_quarantine_without_jobs_of_its_own(spark, tmp_path):
    root = tmp_path / "work"
    r, jobs = _run(spark, root, _delivery(tmp_path, "first", FIRST))
    assert (r.output_rows, r.quarantine_rows, r.duplicate_rows) == (4, 4, 0)
    quarantine = spark.read.parquet(r.quarantine_path)
    assert (r.quarantine_by_reason, r.quarantine_examples) == _grouped(quarantine)
    assert set(r.quarantine_by_reason) == {"non_numeric_amount", "missing_required_field",
                                           "invalid_label"}  # fmt: skip
    # base 4816bb97: 14 (the group-by's 2, the empty conflicts' broadcast 1); 091bc965: 11;
    # now 10: the classification joins the id counts on `==`, where they were hashed
    # (dedup._split_by_copies: a null-safe join shuffled them again, session 44); 12 since
    # review54a: a clock of days? (its midnights read as their day's end:
    # label_clock.read_day_clock, a limit job over the first label_times; 2 jobs, an
    # aggregate's shuffle and result, where they may be days)
    assert jobs <= 12, jobs


def test_an_append_with_conflicting_copies_counts_its_quarantine_file(spark, tmp_path):
    root = tmp_path / "work"
    run_etl(spark, load_config(None, {"paths.root": str(root),
                                      "etl": {"input": str(_delivery(tmp_path, "first", FIRST))}}))  # fmt: skip
    r, jobs = _run(spark, root, _delivery(tmp_path, "append", APPEND), mode="append")
    assert (r.output_rows - r.previous_rows, r.quarantine_rows) == (1, 3)
    this_run = spark.read.parquet(r.quarantine_path).filter(
        F.col("source_file").endswith("append.csv")
    )
    assert (r.quarantine_by_reason, r.quarantine_examples) == _grouped(this_run)
    assert r.quarantine_by_reason == {"conflicting_duplicate": 2, "non_numeric_amount": 1}
    # base 4816bb97: 32 (the group-by's 2); 091bc965: 30; now 27 (the id counts not
    # shuffled again for either side of the split, session 44); 28 since review54a (the
    # label_time probe of label_clock.read_day_clock)
    assert jobs <= 28, jobs


def test_reasons_the_observation_does_not_cover_are_counted_by_spark(spark, tmp_path):
    """A reason outside REASON_CODES (or a null one) is not observed: the group-by gives
    every row's; rows of known reasons only are answered from the observation, no job."""
    from fraud_app.etl.quarantine_counts import WrittenQuarantine, observe

    for i, reasons in enumerate((["invalid_label", "invalid_label", "inexact_id"],
                                 ["invalid_label", "some_new_reason", None])):  # fmt: skip
        path = str(tmp_path / f"q{i}")
        rows = spark.createDataFrame([(r, f"detail {j} of {r}") for j, r in enumerate(reasons)],
                                     f"{REASON} string, {DETAIL} string")  # fmt: skip
        observed, observation = observe(rows)
        observed.write.parquet(path)
        written = WrittenQuarantine(spark.read.parquet(path), len(reasons), observation)
        (counts, firsts), jobs = counted_jobs(spark, "by_reason", written.by_reason)
        expected = {r: reasons.count(r) for r in reasons}
        assert counts == expected
        assert firsts == {r: f"detail {reasons.index(r)} of {r}" for r in reasons}
        assert (jobs == 0) == (i == 0), jobs
    assert WrittenQuarantine(written.rows, 0, None).by_reason() == ({}, {})


def test_an_observation_counting_more_or_fewer_rows_than_written_is_not_trusted(spark, tmp_path):
    """An observation whose rows differ from the file's footer count (a task's rows counted
    twice, or some missed) is not reported: the group-by of the rows written is (session 43
    review: a retried or speculative write task is counted once by Spark, docs/PROBES.md;
    this is the guard should one ever be counted twice)."""
    from fraud_app.etl.quarantine_counts import WrittenQuarantine, observe

    rows = spark.createDataFrame([("invalid_label", "b"), ("invalid_label", "a"),
                                  ("inexact_id", "c")], f"{REASON} string, {DETAIL} string")  # fmt: skip
    path = str(tmp_path / "q")
    observed, observation = observe(rows)
    observed.write.parquet(path)
    half = spark.read.parquet(path).filter(F.col(DETAIL) != "b")  # 2 rows: 3 observed
    assert WrittenQuarantine(half, 2, observation).by_reason() == (
        {"invalid_label": 1, "inexact_id": 1}, {"invalid_label": "a", "inexact_id": "c"})  # fmt: skip
    twice = spark.read.parquet(path, path)  # 6 rows: 3 observed
    assert WrittenQuarantine(twice, 6, observation).by_reason() == (
        {"invalid_label": 4, "inexact_id": 2}, {"invalid_label": "a", "inexact_id": "c"})  # fmt: skip
    assert WrittenQuarantine(twice, 3, observation).by_reason() == (
        {"invalid_label": 2, "inexact_id": 1}, {"invalid_label": "a", "inexact_id": "c"})  # fmt: skip


def _column_aggregates() -> list:
    """The aggregates built Column by Column, as before session 54 (helper ci54b)."""
    from fraud_app.etl.quarantine_counts import _CLEAN, _ROWS, _count, _first
    from fraud_app.etl.rules import REASON_CODES

    out = [F.count(F.lit(1)).alias(_ROWS),
           F.count(F.when(F.col(REASON).isNull(), 1)).alias(_CLEAN)]  # fmt: skip
    for i, code in enumerate(REASON_CODES):
        hit = F.col(REASON) == F.lit(code)
        out += [F.count(F.when(hit, 1)).alias(_count(i)),
                F.min(F.when(hit, F.col(DETAIL))).alias(_first(i))]  # fmt: skip
    return out


def test_the_aggregates_in_sql_are_the_ones_built_column_by_column(spark) -> None:
    """aggregates_sql (one JVM round trip each) analyses to the plan of the Columns it
    replaced, and gives the same counts and details."""
    import re

    from pyspark.sql import Observation

    from fraud_app.etl.quarantine_counts import observe

    rows = spark.createDataFrame(
        [("non_numeric_amount", "amount 'x' b"), ("non_numeric_amount", "amount 'a' a"),
         ("invalid_label", "label '7'"), (None, None), ("inexact_id", None)],
        f"{REASON} string, {DETAIL} string",
    )  # fmt: skip
    observed, by_sql = observe(rows)
    by_columns = Observation()
    reference = rows.observe(by_columns, *_column_aggregates())

    def plan(df) -> str:  # without expression ids and the observation's own name
        text = re.sub(r"#\d+L?", "#", df._jdf.queryExecution().analyzed().toString())
        return re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<name>", text)

    assert "CollectMetrics <name>" in plan(observed)
    assert plan(observed) == plan(reference)
    observed.collect()
    reference.collect()
    assert by_sql.get == by_columns.get
    assert by_sql.get["__q_rows"] == 5 and by_sql.get["__q_clean"] == 1
