"""Which Spark jobs a call fires: its own job group, read from the status tracker (the
tests that bound a step's jobs: etl/test_quarantine_counts.py, etl/test_labels_jobs.py,
ml/test_estimators.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_serial = itertools.count()


def job_ids(sc, group: str, call: Callable[[], T]) -> tuple[T, list[int]]:
    """(call's result, the ids of the Spark jobs it fired), under the job group `group`."""
    sc.setJobGroup(group, group)
    try:
        result = call()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    return result, sorted(sc.statusTracker().getJobIdsForGroup(group))


def counted_jobs(spark, name: str, call: Callable[[], T]) -> tuple[T, int]:
    """(call's result, how many Spark jobs it fired), under a fresh job group named after
    `name`."""
    result, ids = job_ids(spark.sparkContext, f"{name}-{next(_serial)}", call)
    return result, len(ids)
