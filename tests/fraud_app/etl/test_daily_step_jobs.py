"""The Spark jobs a daily step fires on a tiny table (fraud_app.etl.labels, the ETL's append
and its first load):
each job is scheduling latency and executor round trips on a cluster, whatever the rows, so
the counts that answer one question with one aggregation are pinned here per phase. A
phase's jobs are those fired while its function runs (a job group around it, counted with
`statusTracker`); the numbers are of the session the tests share (AQE on). Measured with
bench/spark_jobs.py (docs/PROBES.md, session 37, helper jobs37)."""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.etl import (
    delivery_checks,
    id_checks,
    label_words,
    labels_apply,
    local_times,
    outputs,
    pipeline,
)
from fraud_app.etl.append_publish import AppendPublish
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from fraud_app.etl.publish import ReplacePublish
from tests.fraud_app.etl.test_labels_feed import _root, publish_transactions

# the stage's small questions that were a job or two each after it was written (session 40:
# 5 jobs; their aggregates are now observed as it is written, fraud_app.etl.stage_summary);
# count_placeholders stays, run only when a row holds a placeholder id
STAGE_CHECKS = {
    "times": (local_times, "count_times"),
    "words": (label_words, "count_mixed"),
    "placeholders": (id_checks, "count_placeholders"),
    # the input written once, read back and counted (was 4 jobs: the write, the read's
    # schema, the count's two; now the write's one)
    "staged": (pipeline, "_stage_input"),
}

pytestmark = pytest.mark.spark

_serial = itertools.count()


@pytest.fixture(scope="module")
def published(transactions_published) -> Path:
    return transactions_published  # published once per test process (conftest.py)


def _jobs(spark, monkeypatch, phases: dict[str, tuple], run) -> Counter:
    """Spark jobs per phase (`name: (owner, function name)`) of `run()`, and `total`."""
    sc, active, jobs = spark.sparkContext, [], Counter()
    tracker = sc.statusTracker()
    outer = f"daily-step-{next(_serial)}"

    def counted(name, inner):
        @functools.wraps(inner)
        def wrapper(*args, **kwargs):
            if active:
                return inner(*args, **kwargs)
            group = f"{outer}-{name}-{next(_serial)}"  # one per call: a phase run twice
            # counted its first call's jobs again when the group was reused
            sc.setJobGroup(group, name)
            active.append(name)
            try:
                return inner(*args, **kwargs)
            finally:
                active.pop()
                jobs[name] += len(tracker.getJobIdsForGroup(group))
                sc.setJobGroup(outer, "the rest")

        return wrapper

    for name, (owner, attr) in phases.items():
        if hasattr(owner, attr):  # a phase the code has (one merged away counts 0)
            monkeypatch.setattr(owner, attr, counted(name, getattr(owner, attr)))
    sc.setJobGroup(outer, "the rest")
    try:
        run()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    jobs["total"] = sum(jobs.values()) + len(tracker.getJobIdsForGroup(outer))
    return jobs


def test_a_labels_run_of_one_label_fires_at_most_30_jobs(spark, published, tmp_path, monkeypatch):
    root = _root(published, tmp_path)
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label,label_time\nt1,1,2024-01-09 00:00:00\n")
    config = load_config(None, {"paths.root": str(root)})
    result = {}
    phases = {
        # the staged files measured: labels in the staged and published dates (one
        # aggregation, was two counts: 4 jobs) and the changed ones (3)
        "labelled": (labels_apply, "_labelled"),
        "relabelled": (labels_apply, "_relabelled"),
        # the staged partitions counted against the published ones (one aggregation, was
        # two counts: 4 jobs; from their footers since session 41: none)
        "added": (AppendPublish, "_added"),
        # the quarantine file staged and counted once (labels counted it again: 2 jobs;
        # from its footer since session 41, read back with its schema: none)
        "stage": (labels_apply, "_stage"),
    }
    jobs = _jobs(spark, monkeypatch, phases,
                 lambda: result.update(r=run_labels(spark, config, [str(feed)])))  # fmt: skip
    r = result["r"]
    assert (r.input_rows, r.labels_filled, r.partitions_rewritten) == (1, 1, ("2024-01-05",))
    # base 9 (now 5), 29 (now 24), 47-48 (now 39-40): a job or two of slack for AQE;
    # session 41 (etl41): 5, 17, 29 (the feed staged, the new partitions, the quarantine
    # file and the ledger entry counted from their footers, read back with their schemas)
    assert jobs["labelled"] + jobs["relabelled"] <= 6, jobs
    assert jobs["stage"] <= 18, jobs  # the publish's write, its counts and the ledger
    assert jobs["total"] <= 30, jobs


def test_an_append_of_one_row_fires_at_most_27_jobs(spark, published, tmp_path, monkeypatch):
    root = _root(published, tmp_path)
    src = tmp_path / "in"
    src.mkdir()
    (src / "b.csv").write_text("transaction_id,card_id,timestamp,amount,label,label_time\n"
                               "t6,c1,2024-01-08 09:00:00,6.5,,\n")  # fmt: skip
    config = load_config(None, {"paths.root": str(root), "etl": {"input": str(src),
                                                                 "mode": "append"}})  # fmt: skip
    result = {}
    phases = {
        # the table's rows and the dates the delivery's ids hit: one pass (was a count and
        # a collect: 5 jobs)
        "published": (AppendPublish, "published"),
        # the classes counted with one aggregation, the exact duplicates' included (was a
        # count of its own in _duplicates: 2 jobs), and the new rows' dates (the publish's
        # and the delivery checks' distinct dates, a job each before session 41); no
        # examples looked for of a class without rows (the conflicts': a job, session 40)
        "counts": (outputs, "_new_rows"),
        "duplicates": (outputs, "_duplicates"),
        # the new partitions and the quarantine file written; counted from their footers,
        # read back with the schemas written (session 40: 12 jobs with the dates' distinct,
        # two counts of two and the quarantine's schema read)
        "publish": (AppendPublish, "write"),
        # the delivery's rows matching another id's: one aggregation, asked once when none
        # match (was 4 jobs: the groups persisted first, a stage of its own; session 46)
        "rekeyed": (delivery_checks, "rekeyed_copies"),
        **STAGE_CHECKS,
    }
    jobs = _jobs(spark, monkeypatch, phases,
                 lambda: result.update(r=run_etl(spark, config)))  # fmt: skip
    r = result["r"]
    assert (r.output_rows, r.previous_rows, r.duplicate_rows) == (6, 5, 0)
    # session 40: 5, 8, 12, 5, 4 and 42 measured (two small jobs added that session: the
    # label-word and all-at-midnight checks); session 41 (etl41): 4, 7, 6, 0, 1 and 26,
    # a job of slack for AQE
    assert jobs["published"] <= 4, jobs
    assert jobs["counts"] + jobs["duplicates"] <= 7, jobs
    assert jobs["publish"] <= 6, jobs
    assert 0 < jobs["rekeyed"] <= 3, jobs
    assert jobs["times"] + jobs["words"] + jobs["placeholders"] == 0, jobs
    assert jobs["staged"] <= 1, jobs
    assert jobs["total"] <= 27, jobs


def test_a_first_load_of_five_rows_fires_at_most_15_jobs(spark, tmp_path, monkeypatch):
    """`etl` (replace) into an empty root: the questions asked of the staged input and of
    the written outputs, as in an append, without a published table to read."""
    phases = {
        "counts": (outputs, "_new_rows"),
        "duplicates": (outputs, "_duplicates"),
        # both outputs written; counted from their footers, read back with the schemas
        # written (session 40: 7 jobs, a count of two and the quarantine's schema read)
        "publish": (ReplacePublish, "write"),
        **STAGE_CHECKS,
    }
    jobs = _jobs(spark, monkeypatch, phases,
                 lambda: publish_transactions(spark, tmp_path))  # fmt: skip  # 5 rows out
    # session 40: 8, 7, 5, 4 and 26 measured; session 41 (etl41): 7, 4, 0, 1 and 14, a job
    # of slack for AQE
    assert jobs["counts"] + jobs["duplicates"] <= 7, jobs
    assert jobs["publish"] <= 4, jobs
    assert jobs["times"] + jobs["words"] + jobs["placeholders"] == 0, jobs
    assert jobs["staged"] <= 1, jobs
    assert jobs["total"] <= 15, jobs
