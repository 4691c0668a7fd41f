"""The batch scorer's features read only the history they need: window features their
own windows' history, the categorical encodings the whole of it (fraud_app.scoring.history)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from fraud_app.features.compile import compute_features
from fraud_app.features.novelty import Novelty
from fraud_app.features.spec import FeatureSet, load_feature_set, spec_paths
from fraud_app.features.window_kinds import (
    AmountZScore,
    FraudRate,
    VelocityRatio,
    WindowAggregate,
)
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.history import features_for_dates, history_rows, history_seconds
from tests.fraud_app.features.canonical_data import frame, tricky_rows

REPO = Path(__file__).resolve().parents[3]
DAY = 86_400
SHIPPED = load_feature_set(spec_paths(REPO / "feature_specs"), label_delay_days=7)


def test_history_of_the_window_features_and_of_the_encodings():
    assert history_seconds(SHIPPED) is None  # the encodings count every earlier row
    # windows alone: card fraud rates over 30 days ending a label delay ago (no delay on top:
    # a label is its own row's, read only while that row is in a window; session 44)
    assert history_seconds(SHIPPED, encodings=False) == (30 + 7) * DAY
    velocity = VelocityRatio(entity="card", window="1h", baseline="60d")
    lagged = WindowAggregate(entity="card", aggregation="count", window="1d", lag="20d")
    relative = WindowAggregate(entity="card", aggregation="min", window="1h", relative_to="30d")
    flag = Novelty(entity="card", column="merchant_id", lookback="40d")
    new = Novelty(entity="card", column="merchant_id", lookback="30d", window="7d", lag="2d")
    cases = ((velocity, 60), (lagged, 21), (relative, 30), (flag, 40), (new, 39))
    for feature, days in cases:
        fs = FeatureSet(features=(feature,), label_delay_s=7 * DAY)
        assert history_seconds(fs) == days * DAY


@pytest.mark.spark
def test_scoring_features_equal_the_feature_table_with_a_bounded_window_history(spark):
    """Rows of the last 3 of 60 days: the shipped specs give the feature table's values
    while the window features read 37 days of rows; the encodings, had they read only
    those, would differ (so this test can fail)."""
    df = frame(spark, tricky_rows(n=900, seed=3, days=60))
    df = df.withColumn(PARTITION_COLUMN, F.to_date("timestamp")).cache()
    start, end = dt.date(2024, 2, 27), dt.date(2024, 2, 29)
    days = F.col(PARTITION_COLUMN).between(F.lit(start), F.lit(end))
    table = compute_features(df, SHIPPED, vector_column=None)
    names = list(table.feature_names)
    result = features_for_dates(df, SHIPPED, start, end)
    assert list(result.feature_names) == names
    bounded = history_rows(df, start, end, history_seconds(SHIPPED, encodings=False))
    assert 0 < bounded.count() < history_rows(df, start, end, None).count()

    def rows(frame_):
        return sorted(tuple(r) for r in frame_.select("transaction_id", *names).collect())

    want = rows(table.df.where(days))
    assert len(want) > 20
    assert rows(result.df) == want  # exact: same values, same rows
    naive = compute_features(bounded, SHIPPED, vector_column=None).df.where(days)
    assert rows(naive) != want


@pytest.mark.spark
def test_skips_of_specs_without_encodings_are_judged_on_every_row_not_the_slice(spark):
    """The only label_time of the table (a fraud confirmed late, a `labels` correction) is
    older than the window history (30 days): the feature step, judging the whole table,
    computes the recent fraud rate; the scorer must compute it too (it skipped it, "no
    label_time", where the specs hold no encoding: the model's rate then failed the names
    check; docs/PROBES.md, session 44, review44e)."""

    def row(tid, card, ts, label=0, label_time=None):
        return (tid, card, "m1", ts, 10.0, label, label_time, "5411", "POS", "DE", "DE", None)

    first = dt.datetime(2024, 1, 20, 10, tzinfo=dt.UTC)
    rows = [row("corr", "c1", first, 1, first + dt.timedelta(days=2))]
    rows += [row(f"r{i}", "c2", first + dt.timedelta(days=5 + i)) for i in range(40)]
    df = frame(spark, rows).withColumn(PARTITION_COLUMN, F.to_date("timestamp")).cache()
    rate = FraudRate(entity="merchant", window="7d", mature_only=False)  # ends within the delay
    count = WindowAggregate(entity="card", aggregation="count", window="30d")
    fs = FeatureSet(features=(rate, count), label_delay_s=7 * DAY)
    assert history_seconds(fs, encodings=False) == 30 * DAY
    day = dt.date(2024, 3, 1)
    assert history_rows(df, day, day, 30 * DAY).where("label_time IS NOT NULL").count() == 0
    assert compute_features(df, fs, vector_column=None).feature_names == (rate.name, count.name)
    result = features_for_dates(df, fs, day, day)
    assert result.feature_names == (rate.name, count.name), result.skipped


@pytest.mark.spark
def test_running_frames_of_amounts_from_the_slice_give_the_tables_bits(spark):
    """A merchant's `frame: running` sum, mean, std and z-score subtract running sums of
    amounts. In double their last bits depended on where the sums started: from the
    37-day slice the scorer read, 200+ of a day's values differed from the feature
    table's (the model's training rows) by up to 6.6e-11 relative (docs/PROBES.md,
    session 51), so the scorer read all history. Exact DECIMAL running sums (session 52):
    the scorer reads the 7-day lookback again, and gets the table's bits."""
    df = frame(spark, tricky_rows(n=900, seed=3, days=60))
    df = df.withColumn(PARTITION_COLUMN, F.to_date("timestamp")).cache()
    running = [
        WindowAggregate(entity="merchant", aggregation=a, window=w, frame="running")
        for a in ("sum", "mean", "std")
        for w in ("1d", "7d")
    ]
    count = WindowAggregate(entity="merchant", aggregation="count", window="7d", frame="running")
    zscore = AmountZScore(entity="merchant", window="7d", frame="running")
    fs = FeatureSet(features=(*running, zscore, count), label_delay_s=7 * DAY)
    start, end = dt.date(2024, 2, 25), dt.date(2024, 2, 29)
    names = [f.name for f in fs.features]

    def rows(frame_):
        return sorted(tuple(r) for r in frame_.select("transaction_id", *names).collect())

    assert history_seconds(fs, encodings=False) == 7 * DAY  # a slice: the lookback
    days = F.col(PARTITION_COLUMN).between(F.lit(start), F.lit(end))
    want = rows(compute_features(df, fs, vector_column=None).df.where(days))
    assert len(want) > 50
    assert rows(features_for_dates(df, fs, start, end).df) == want  # exact: the same bits
    # and from a slice starting elsewhere (a day later, mid-day): the same bits again
    later = df.where(F.col("timestamp") >= F.lit(dt.datetime(2024, 2, 17, 7, tzinfo=dt.UTC)))
    assert rows(compute_features(later, fs, vector_column=None).df.where(days)) == want


@pytest.mark.spark
def test_a_dense_merchants_running_zscore_from_the_slice_is_the_tables(spark):
    """One merchant: a first amount of 1.00, then 2,000 amounts of about 10,000 (a row
    every 72 minutes). With double running sums the table's started at the 1.00 and the
    scorer's 7-day slice at a 10,000: every scored std and z-score differed, by up to
    3.0e-5 relative, also as the float32 the model reads (362 of 362 values;
    docs/PROBES.md, session 51). Exact running sums: the same doubles from the slice."""

    def row(i, ts, amount):
        return (f"t{i}", f"c{i % 50}", "m0", ts, amount, 0, None, "5411", "POS", "DE", "DE", None)

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = [row(0, t0, 1.0)] + [
        row(i, t0 + dt.timedelta(hours=1.2 * i), round(10_000 + (i * 7919) % 100 / 100, 2))
        for i in range(1, 2001)
    ]
    df = frame(spark, rows).withColumn(PARTITION_COLUMN, F.to_date("timestamp")).cache()
    std = WindowAggregate(entity="merchant", aggregation="std", window="7d", frame="running")
    zscore = AmountZScore(entity="merchant", window="7d", frame="running")
    fs = FeatureSet(features=(std, zscore), label_delay_s=7 * DAY)
    start, end = dt.date(2024, 4, 1), dt.date(2024, 4, 10)
    names = [std.name, zscore.name]

    def values(frame_):
        return sorted(tuple(r) for r in frame_.select("transaction_id", *names).collect())

    assert history_seconds(fs, encodings=False) == 7 * DAY
    days = F.col(PARTITION_COLUMN).between(F.lit(start), F.lit(end))
    want = values(compute_features(df, fs, vector_column=None).df.where(days))
    assert len(want) > 150
    assert values(features_for_dates(df, fs, start, end).df) == want  # the doubles' bits
