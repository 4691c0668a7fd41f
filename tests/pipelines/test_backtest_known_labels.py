"""A backtest fold trains on the labels as known at its cut-off: strictly before it, the
rule of fraud_app.features.labels (review53b: `known_labels` and the leakage check kept
a fraud whose label_time was exactly the cut-off, as the windowed fraud rates counted a
label known at exactly t, while the encodings counted only those known before their
period's start)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.backtest.pipeline import known_labels, leakage_check
from tests.fraud_app.features.canonical_data import SCHEMA

pytestmark = pytest.mark.spark

CUT = dt.datetime(2024, 1, 20, tzinfo=dt.UTC)


def _row(tid: str, days: int, label: int, known: dt.datetime | None):
    ts = dt.datetime(2024, 1, days, tzinfo=dt.UTC)
    return (tid, "c1", "m1", ts, 1.0, label, known, "5411", "POS", "FR", "FR", None)


def test_a_label_known_at_exactly_the_cutoff_is_not_known_at_it(spark) -> None:
    rows = [
        _row("before", 2, 1, CUT - dt.timedelta(microseconds=1)),
        _row("at", 3, 1, CUT),  # learnt at the cut-off itself: not yet known
        _row("after", 4, 1, CUT + dt.timedelta(hours=1)),
    ]
    df = spark.createDataFrame(rows, SCHEMA)
    labels = {r.transaction_id: r.label for r in known_labels(df, CUT, 86_400).collect()}
    assert labels == {"before": 1, "at": 0, "after": 0}
    assert leakage_check(df.where("transaction_id = 'before'"), CUT, 86_400)["ok"]
    assert not leakage_check(df.where("transaction_id = 'at'"), CUT, 86_400)["ok"]
