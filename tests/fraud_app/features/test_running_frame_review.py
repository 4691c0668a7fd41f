"""Review of the exact `frame: running` sums (session 52, review52e; docs/PROBES.md).

The exact running sums round each value to 5 decimals (fraud_app.features.frames.exact_value):
exact for an amount (ISO 4217 minor units, or a converted amount to a 2,000th of a cent),
but a column of small values (a probability, a ratio) lost its digits silently: a
merchant's `frame: auto` mean of values near 5e-6 read 9 % off (or 0) and its std 2.6x, a
std of values differing in the 7th decimal read 0. And a value the sums cannot hold (NaN,
infinite, >= 1e13) in a window's history was dropped from the sum but kept in the count
wherever its own row was not computed (the scorer's rows of the scored dates): a silent
mean, where the feature table's build failed naming the feature."""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import (
    AmountRatio,
    AmountZScore,
    VelocityRatio,
    WindowAggregate,
)
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.history import features_for_dates
from tests.fraud_app.features.canonical_data import frame

DAY = 86_400
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _row(i: int, amount: float) -> tuple:
    ts = T0 + dt.timedelta(hours=6 * i)
    return (f"t{i}", f"c{i % 5}", "m0", ts, amount, 0, None, "5411", "POS", "DE", "DE", None)


def test_auto_frames_run_exact_sums_only_of_the_amount():
    """`frame: auto` of a merchant takes the exact running sums for the amount (whose
    decimals they hold) and for counts; another column's sums, means, stds slide (Spark's
    double aggregates: no rounding to 5 decimals). `frame: running` stays as written."""
    merchant = {"entity": "merchant", "window": "7d"}
    risk = {**merchant, "column": "risk"}
    assert not WindowAggregate(aggregation="std", **merchant).sliding
    assert not AmountZScore(**merchant).sliding
    assert not WindowAggregate(aggregation="count", **risk).sliding
    assert not VelocityRatio(aggregation="count", **risk).sliding
    assert WindowAggregate(aggregation="mean", **risk).sliding
    assert WindowAggregate(aggregation="max", relative_to="30d", **risk).sliding
    assert AmountRatio(**risk).sliding
    assert AmountZScore(**risk).sliding
    assert VelocityRatio(aggregation="sum", **risk).sliding
    assert not WindowAggregate(aggregation="mean", frame="running", **risk).sliding
    assert WindowAggregate(entity="card", window="7d", aggregation="mean").sliding


@pytest.mark.spark
def test_a_merchants_auto_mean_and_std_of_small_values_keep_their_digits(spark):
    """A column of probabilities near 5e-6 (8 significant digits): the merchant's
    `frame: auto` 1-day mean and std within 1e-9 of the exact ones. On exact52's tip
    (running sums of the values rounded to 5 decimals: 0 or 1e-5) the mean was up to
    100 % off (a day of values below 5e-6 read 0) and the std up to 6.8x."""
    risk = [round(1e-6 + ((i * 7919) % 997) * 1e-8, 14) for i in range(40)]
    rows = [_row(i, 10.0) for i in range(40)]
    values = F.create_map(*[x for i, r in enumerate(risk) for x in (F.lit(f"t{i}"), F.lit(r))])
    df = frame(spark, rows).withColumn("risk", values[F.col("transaction_id")])
    mean = WindowAggregate(entity="merchant", aggregation="mean", window="1d", column="risk")
    std = WindowAggregate(entity="merchant", aggregation="std", window="1d", column="risk")
    fs = FeatureSet(features=(mean, std), label_delay_s=7 * DAY)
    got = {
        r["transaction_id"]: r for r in compute_features(df, fs, vector_column=None).df.collect()
    }
    worst = {"mean": 0.0, "std": 0.0}
    for i in range(4, 40):
        xs = [Fraction(repr(x)) for x in risk[i - 4 : i]]  # the 4 rows of the last day
        exact_mean = sum(xs, Fraction(0)) / 4
        exact_std = math.sqrt(sum(((x - exact_mean) ** 2 for x in xs), Fraction(0)) / 3)
        value = got[f"t{i}"]
        worst["mean"] = max(worst["mean"], abs(value[mean.name] / float(exact_mean) - 1))
        worst["std"] = max(worst["std"], abs(value[std.name] / exact_std - 1))
    assert worst["mean"] < 1e-9 and worst["std"] < 1e-9, worst


@pytest.mark.spark
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2e13])
def test_the_scorer_fails_on_a_value_the_exact_sums_drop_from_its_windows(spark, bad):
    """An amount of NaN, infinity or 2e13 (etl.bounds.max_amount raised; a table of one's
    own) on day 3, scoring day 5: its row is read as history but not computed, and the
    7-day running mean of day 5 dropped it from the sum and kept it in the count (16.125
    for 16 rows of which 15 summed) without a word on exact52's tip; the feature table's
    build failed naming the feature. Now the scorer fails so too."""
    rows = [_row(i, 10.0 + i) for i in range(20)]
    rows[12] = _row(12, bad)  # 2024-01-04 00:00
    df = frame(spark, rows).withColumn(PARTITION_COLUMN, F.to_date("timestamp"))
    mean = WindowAggregate(entity="merchant", aggregation="mean", window="7d", frame="running")
    fs = FeatureSet(features=(mean,), label_delay_s=7 * DAY)
    day = dt.date(2024, 1, 5)
    with pytest.raises(PySparkException, match=f"feature {mean.name}: an earlier amount value"):
        features_for_dates(df, fs, day, day).df.collect()


@pytest.mark.spark
@pytest.mark.parametrize("ansi", ["true", "false"])
def test_the_scorer_names_the_feature_for_a_window_that_jumps_past_64_bits(spark, ansi):
    """1,100 amounts of 8.9e10 at one timestamp on day 1 (history), one row on day 3
    (scored): its 7-day window sums 9.8e13, past 2^63 units, with no earlier scored row at
    the 1.15e13 limit. On fast53's tip the scorer failed under ANSI on with Spark's bare
    ARITHMETIC_OVERFLOW (the std's n c, computed before the feature's check), not naming
    the feature as the full build's check does (review53f)."""
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", ansi)
    try:
        rows = [(f"h{i}", *_row(0, 8.9e10)[1:]) for i in range(1100)]  # all at T0
        rows.append(_row(8, 1.0))  # 2024-01-03 00:00
        df = frame(spark, rows).withColumn(PARTITION_COLUMN, F.to_date("timestamp"))
        std = WindowAggregate(entity="merchant", aggregation="std", window="7d", frame="running")
        fs = FeatureSet(features=(std,), label_delay_s=7 * DAY)
        day = dt.date(2024, 1, 3)
        with pytest.raises(
            PySparkException,
            match=rf"feature {std.name}: the sum of amount over one window reached 1\.15e13",
        ):
            features_for_dates(df, fs, day, day).df.collect()
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
