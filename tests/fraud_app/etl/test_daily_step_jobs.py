"""The Spark jobs a daily step fires on a tiny table (fraud_app.etl.labels, the ETL's append):
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
from fraud_app.etl import labels_apply, outputs
from fraud_app.etl.append_publish import AppendPublish
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_labels_feed import _root, publish_transactions

pytestmark = pytest.mark.spark

_serial = itertools.count()


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory) -> Path:
    return publish_transactions(spark, tmp_path_factory.mktemp("published"))


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


def test_a_labels_run_of_one_label_fires_at_most_43_jobs(spark, published, tmp_path, monkeypatch):
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
        # two counts: 4 jobs)
        "added": (AppendPublish, "_added"),
        # the quarantine file staged and counted once (labels counted it again: 2 jobs)
        "stage": (labels_apply, "_stage"),
    }
    jobs = _jobs(spark, monkeypatch, phases,
                 lambda: result.update(r=run_labels(spark, config, [str(feed)])))  # fmt: skip
    r = result["r"]
    assert (r.input_rows, r.labels_filled, r.partitions_rewritten) == (1, 1, ("2024-01-05",))
    # base 9 (now 5), 29 (now 24), 47-48 (now 39-40): a job or two of slack for AQE
    assert jobs["labelled"] + jobs["relabelled"] <= 6, jobs
    assert jobs["stage"] <= 26, jobs  # the publish's write, its counts and the ledger
    assert jobs["total"] <= 43, jobs


def test_an_append_of_one_row_fires_at_most_42_jobs(spark, published, tmp_path, monkeypatch):
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
        # count of its own in _duplicates: 2 jobs)
        "counts": (outputs, "_new_rows"),
        "duplicates": (outputs, "_duplicates"),
    }
    jobs = _jobs(spark, monkeypatch, phases,
                 lambda: result.update(r=run_etl(spark, config)))  # fmt: skip
    r = result["r"]
    assert (r.output_rows, r.previous_rows, r.duplicate_rows) == (6, 5, 0)
    # base 5 (now 4), 10 (now 8), 41-42 (now 38-39); session 40 added two small jobs over
    # the staged rows' few columns, deliberately: the label-word check (data40) and, without
    # etl.time_zone, the all-at-midnight check (with a zone it shares the ambiguous-time
    # job): 42 measured. Folding them into one aggregation is docs/PROBES.md's left item.
    assert jobs["published"] <= 4, jobs
    assert jobs["counts"] + jobs["duplicates"] <= 8, jobs
    assert jobs["total"] <= 42, jobs
