"""The limits of the exact `frame: running` sums that the other tests do not reach
(session 54, helper exact54; docs/PROBES.md): a window of 2^34 values, checked on the
check itself (17 billion rows are not built), and the window that jumps past 64 bits at
once in the incremental build (review53f tested the full build and the scorer)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F

from fraud_app.features.frames import WINDOW_COUNT_LIMIT, overflow_checks, window_fits
from fraud_app.features.incremental import Plan
from fraud_app.features.spec import FeatureSet
from fraud_app.features.table_update import recompute
from fraud_app.features.window_kinds import WindowAggregate
from fraud_app.schema import PARTITION_COLUMN
from tests.fraud_app.features.canonical_data import frame

pytestmark = pytest.mark.spark
DAY = 86_400
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _checked(spark, count: int) -> tuple:
    """The window checks of a std of `amount` (window sum 1.0 in units, `count` values)
    applied to a one-row frame as entity_features applies them: (value, window_fits)."""
    df = spark.createDataFrame([(1.0,)], "amount double")
    total, n = F.lit(1.0), F.lit(count)
    checks = overflow_checks("m_std", [("amount", "window", total, n, F.lit(0))])
    value = F.lit(0.0)
    for condition, message in checks:
        value = F.when(condition, F.raise_error(message)).otherwise(value)
    return tuple(df.select(value, window_fits(total, n)).first())


def test_a_window_of_2_34_values_names_the_feature(spark):
    """The exact m2 multiplies the window's count by the rounded mean's 26-bit limbs
    (windows._exact_m2): n < 2^34 keeps them within 2^61. Until session 54 nothing checked
    it: past it the products wrapped (ANSI off) or raised Spark's bare ARITHMETIC_OVERFLOW
    (on). Now `window_fits` zeroes the m2's inputs there and the feature fails naming
    itself, the count and `frame: sliding`."""
    assert WINDOW_COUNT_LIMIT == 2**34
    assert _checked(spark, 2**34 - 1) == (0.0, True)
    with pytest.raises(
        PySparkException,
        match=r"feature m_std: one window holds 17179869184 values of amount, at or past "
        r"2\^34 \(17,179,869,184\).*set `frame: sliding` on feature m_std",
    ):
        _checked(spark, 2**34)


def _row(tid: str, ts: dt.datetime, amount: float) -> tuple:
    return (tid, "c0", "m0", ts, amount, 0, None, "5411", "POS", "DE", "DE", None)


@pytest.mark.parametrize("ansi", ["true", "false"])
def test_the_incremental_build_names_the_feature_for_a_window_that_jumps_past_64_bits(spark, ansi):
    """1,100 amounts of 8.9e10 at one timestamp on day 1 (history the incremental build
    reads, not recomputed), one row on day 3 (recomputed): its 7-day window sums 9.8e13,
    past 2^63 units, with no earlier recomputed row at the 1.15e13 limit. The build's
    compute path (table_update.recompute over the lookback) fails naming the feature under
    ANSI on and off. Without the window check it reads the fill (the m2 is null past the
    limit); without the zeroed inputs of the m2 (review53f) ANSI on raises Spark's bare
    ARITHMETIC_OVERFLOW: either way this test fails (checked by removing each)."""
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", ansi)
    try:
        rows = [_row(f"h{i}", T0, 8.9e10) for i in range(1100)]
        rows.append(_row("r0", T0 + dt.timedelta(days=2), 1.0))
        df = frame(spark, rows).withColumn(PARTITION_COLUMN, F.to_date("timestamp"))
        std = WindowAggregate(entity="merchant", aggregation="std", window="7d", frame="running")
        fs = FeatureSet(features=(std,), label_delay_s=7 * DAY)
        start = dt.date(2024, 1, 3)
        plan = Plan(full=False, start=start, changed=(start.isoformat(),))
        with pytest.raises(
            PySparkException,
            match=rf"feature {std.name}: the sum of amount over one window reached 1\.15e13",
        ):
            recompute(df, fs, plan, None).df.collect()
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
