"""The history an incremental build (and the scorer) reads before its first date is the specs'
lookback, with no label delay on top (docs/PROBES.md, session 44, incr44b).

A feature of t reads rows with a timestamp >= t - lookback only, labels included: a label is a
column of its own row, so a fraud known late (its label_time days after the label delay)
counts at t only while its row is inside the window. Here the oldest row any feature of the
first recomputed date reads sits exactly at its midnight - lookback (a fraud known 2.5 days
late, in a lagged card fraud rate; the row that makes a later row's merchant not new to the
card), and older rows (a fraud known late, a fraud of the merchant's lag-0 rate) reach no
feature: the history read starts at the first, the recomputed dates equal a full
computation, and one second less history changes them (so the test can fail)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from fraud_app.features.compile import compute_features
from fraud_app.features.incremental import Plan
from fraud_app.features.novelty import Novelty
from fraud_app.features.spec import FeatureSet
from fraud_app.features.table_update import recompute
from fraud_app.features.window_kinds import FraudRate
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.history import history_rows, history_seconds
from tests.fraud_app.features.canonical_data import frame

pytestmark = pytest.mark.spark
DAY = 86_400
START = dt.date(2024, 3, 5)  # the first date recomputed
FEATURES = (
    FraudRate(entity="card", window="2d", lag="label_delay"),  # [t - 3d, t - 1d)
    FraudRate(entity="merchant", window="2d", mature_only=False),  # [t - 2d, t)
    Novelty(
        entity="card", column="merchant_id", lookback="2d", window="1d"
    ),  # flags of [t - 1d, t)
)


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _row(tid, card, merchant, ts, label=0, label_time=None):
    return (tid, card, merchant, _t(ts), 10.0, label, label_time and _t(label_time), "5411",
            "POS", "DE", "DE", None)  # fmt: skip


ROWS = [
    # before the history: frauds of c1 and m2 known late (before the first recomputed date)
    _row("old1", "c1", "m1", "2024-03-01 23:59:59", 1, "2024-03-04 23:00:00"),
    _row("old2", "c2", "m2", "2024-03-01 12:00:00", 1, "2024-03-04 00:00:00"),
    # the oldest row read: a fraud known 2.5 days after it (the delay is 1 day)
    _row("f1", "c1", "m1", "2024-03-02 00:00:00", 1, "2024-03-04 12:00:00"),
    _row("n1", "c1", "m1", "2024-03-04 00:00:00"),  # not new to c1: f1 is 2 days before it
    _row("m2a", "c3", "m2", "2024-03-03 00:00:00", 0, "2024-03-04 00:00:00"),
    _row("r1", "c1", "m2", "2024-03-05 00:00:00"),  # first recomputed row: reads f1 and n1
    _row("r2", "c2", "m2", "2024-03-05 00:00:00"),
    _row("r3", "c1", "m1", "2024-03-06 10:00:00"),
]


@pytest.mark.parametrize("label_time", [True, False], ids=["label_time", "delay_only"])
def test_the_history_read_is_the_lookback_and_the_values_a_full_build_s(spark, label_time):
    df = frame(spark, ROWS).withColumn(PARTITION_COLUMN, F.to_date("timestamp"))
    if not label_time:  # known a label delay after the transaction
        df = df.drop("label_time")
    df = df.cache()
    fs = FeatureSet(features=FEATURES, label_delay_s=DAY)
    history_s = history_seconds(fs, encodings=False)
    assert history_s == 3 * DAY  # the card rate's window + lag, the novelty's window + lookback
    read = history_rows(df, START, dt.date.max, history_s)
    assert read.orderBy("timestamp").first()["transaction_id"] == "f1"  # not old1, old2

    names = [f.name for f in FEATURES]

    def values(result):
        rows = result.df.where(F.col(PARTITION_COLUMN) >= F.lit(START))
        return sorted(tuple(r) for r in rows.select("transaction_id", *names).collect())

    full = values(compute_features(df, fs, vector_column=None))
    plan = Plan(full=False, start=START, changed=(START.isoformat(),))
    assert values(recompute(df, fs, plan, None)) == full
    r1 = dict(zip(["id", *names], full[0], strict=True))
    assert r1["id"] == "r1" and r1[names[0]] == 1.0 and r1[names[2]] == 0.0, r1  # f1 counted

    # one second less history: f1 not read, r1's card rate and novelty count differ
    short = history_rows(df, START, dt.date.max, history_s - 1)
    assert values(compute_features(short, fs, vector_column=None, whole_history=df)) != full
