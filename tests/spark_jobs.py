"""Counting the Spark jobs a call fires: its own job group, read from the status tracker
(the tests that bound a step's jobs: etl/test_quarantine_counts.py, etl/test_labels_jobs.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
_serial = itertools.count()


def counted_jobs(spark, name: str, call: Callable[[], T]) -> tuple[T, int]:
    """(call's result, the Spark jobs it fired), under a fresh job group named after `name`."""
    sc = spark.sparkContext
    group = f"{name}-{next(_serial)}"
    sc.setJobGroup(group, name)
    try:
        result = call()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    return result, len(sc.statusTracker().getJobIdsForGroup(group))
