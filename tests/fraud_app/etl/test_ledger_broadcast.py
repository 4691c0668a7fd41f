"""An `etl.mode: replace` rebuild joins the label ledger's fills and corrections to the
rebuilt rows by broadcast only while they are few (fraud_app.etl.ledger.BROADCAST_ENTRIES):
the broadcast was forced whatever their number, and a broadcast is collected on the driver
first, so a ledger holding every transaction's label (a bank whose labels all come by feed)
went through the driver whole (session 42). Past the bound the join is shuffled; the table
is the same. Real Spark, the real ETL and labels runs; Spark's own SQL status store says
which tables were broadcast."""

from __future__ import annotations

import re

import pytest

from fraud_app.etl import ledger as label_ledger
from fraud_app.etl.pipeline import run_etl
from tests.fraud_app.etl.test_labels_ledger import (
    SECOND,
    _config,
    _labels,
    _raw,
    published_then_fed,
)

pytestmark = pytest.mark.spark
# Spark's own size-based broadcasts off; the plan text of each execution "formatted" (the
# tests' session posts "simple", tests/conftest.py), the form the regexes below read.
SETTINGS = {
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.adaptive.autoBroadcastJoinThreshold": "-1",
    "spark.sql.ui.explainMode": "formatted",
}
FEED = "a1,1,2024-01-09 00:30:00\na3,0,2024-01-09 00:30:00\na4,1,2024-01-09 00:30:00\na5,1,\n"


def _executions(spark) -> list:
    store = spark._jsparkSession.sharedState().statusStore()
    listed = store.executionsList()
    return [listed.apply(i) for i in range(listed.size())]


def _ledger_broadcasts(spark, since: int) -> int:
    """How many SQL executions after `since` broadcast the ledger's applied entries (a
    BroadcastExchange whose input holds `__fill`)."""
    found = re.compile(r"BroadcastExchange\nInput \[\d+\]: \[[^\]]*__fill")
    return sum(bool(found.search(e.physicalPlanDescription()))
               for e in _executions(spark) if e.executionId() > since)  # fmt: skip


def _rebuild(spark, tmp_path):
    """The replace rebuild of test_labels_ledger, with Spark's own size-based broadcasts off
    (as for tables past its 10 MB threshold): (its result, broadcasts of the ledger)."""
    since = max((e.executionId() for e in _executions(spark)), default=-1)
    before = {k: spark.conf.get(k, None) for k in SETTINGS}
    for k, v in SETTINGS.items():
        spark.conf.set(k, v)
    try:
        _raw(tmp_path, SECOND)
        rebuilt = run_etl(spark, _config(tmp_path))
    finally:
        for k, v in before.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    return rebuilt, _ledger_broadcasts(spark, since)


EXPECTED = {"a1": (1, "2024-01-09 00:30:00"), "a2": (0, None),
            "a3": (1, "2024-01-08 00:30:00"), "a4": (None, None)}  # fmt: skip


def test_entries_past_the_bound_are_joined_without_going_through_the_driver(
    spark, first_published, tmp_path, monkeypatch
):
    published_then_fed(spark, first_published, tmp_path, FEED)
    monkeypatch.setattr(label_ledger, "BROADCAST_ENTRIES", 0, raising=False)  # 1 re-applied
    rebuilt, broadcasts = _rebuild(spark, tmp_path)
    assert broadcasts == 0  # was 1: the applied entries broadcast (collected by the driver)
    assert rebuilt.labels_reapplied == 1
    assert _labels(spark, rebuilt.output_path) == EXPECTED


def test_entries_within_the_bound_are_still_broadcast(spark, first_published, tmp_path):
    published_then_fed(spark, first_published, tmp_path, FEED)
    rebuilt, broadcasts = _rebuild(spark, tmp_path)
    assert broadcasts >= 1  # no shuffle of the rebuilt rows for a few entries
    assert _labels(spark, rebuilt.output_path) == EXPECTED
