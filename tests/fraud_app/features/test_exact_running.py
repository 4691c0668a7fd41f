"""`frame: running` windows of non-integer values from exact DECIMAL running sums
(session 52, exact52; fraud_app.features.frames.exact_value, windows._exact_m2).

Until then the running sums were doubles: a window's value is the difference of two of
them, so it depended on where the sums started (the feature table's whole history vs
the scorer's slice), and the std of a dense entity whose amounts sit tight around a large
level lost its digits as the history grew (9.1e-5 relative after a year at 20 rows a
day, 0 after a year at 1,440: docs/PROBES.md, session 51 review). The references here
are exact (`fractions.Fraction` of the amounts as written)."""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction

import pytest
from pyspark.errors import PySparkException

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import AmountZScore, WindowAggregate
from tests.fraud_app.features.canonical_data import frame

pytestmark = pytest.mark.spark

DAY = 86_400
T0 = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)


def _row(i: int, ts: dt.datetime, amount: float, merchant: str = "m0") -> tuple:
    return (f"t{i}", f"c{i % 50}", merchant, ts, amount, 0, None, "5411", "POS", "DE", "DE", None)


def _dense_tight_rows() -> list[tuple]:
    """One merchant: a first amount of 1.00, then 4 amounts a day of 10,000.00-10,000.99
    for 400 days (1,601 rows; every 6 hours plus a few minutes, no ties)."""
    rows = [_row(0, T0, 1.0)]
    for i in range(1, 1601):
        ts = T0 + dt.timedelta(hours=6 * i, minutes=(i * 37) % 50)
        rows.append(_row(i, ts, round(10_000 + (i * 7919) % 100 / 100, 2)))
    return rows


def _exact(rows: list[tuple], at: dt.datetime, window_s: int):
    """(n, mean, sample std) of the amounts as written in [at - window, at), exactly."""
    xs = [Fraction(repr(r[4])) for r in rows if at - dt.timedelta(seconds=window_s) <= r[3] < at]
    n = len(xs)
    mean = sum(xs, Fraction(0)) / n
    m2 = sum(((x - mean) ** 2 for x in xs), Fraction(0))
    return n, mean, math.sqrt(m2 / (n - 1))


def test_a_dense_tight_entitys_running_std_is_exact_after_400_days(spark):
    """On fb3e23d3 (double running sums of x - K, K = the 1.00) the 7-day std of the last
    40 rows was off by ~1e-5 relative; the z-score too."""
    rows = _dense_tight_rows()
    std = WindowAggregate(entity="merchant", aggregation="std", window="7d", frame="running")
    mean = WindowAggregate(entity="merchant", aggregation="mean", window="7d", frame="running")
    zscore = AmountZScore(entity="merchant", window="7d", frame="running")
    fs = FeatureSet(features=(std, mean, zscore), label_delay_s=7 * DAY)
    out = compute_features(frame(spark, rows), fs, vector_column=None).df
    got = {
        r["transaction_id"]: r
        for r in out.select("transaction_id", std.name, mean.name, zscore.name).collect()
    }
    worst = {"std": 0.0, "mean": 0.0, "z": 0.0}
    for r in rows[-40:]:
        n, exact_mean, exact_std = _exact(rows, r[3], 7 * DAY)
        assert 26 <= n <= 29
        value = got[r[0]]
        exact_z = float((Fraction(repr(r[4])) - exact_mean) / Fraction(exact_std))
        worst["std"] = max(worst["std"], abs(value[std.name] / exact_std - 1))
        worst["mean"] = max(worst["mean"], abs(value[mean.name] / float(exact_mean) - 1))
        worst["z"] = max(worst["z"], abs(value[zscore.name] - exact_z) / max(1, abs(exact_z)))
    assert worst["std"] < 1e-9, worst
    assert worst["z"] < 1e-9, worst
    assert worst["mean"] < 1e-15, worst


@pytest.mark.parametrize("ansi", ["true", "false"])
def test_a_value_or_a_running_sum_beyond_the_decimals_names_the_feature(spark, ansi):
    """A value the DECIMAL(18, 5) of the exact sums cannot hold (1e13), and a running sum
    of squares past DECIMAL(37, 10) (20 amounts of 9e12: 1.6e27): an error naming the
    feature and `frame: sliding`, under ANSI on and off (off: Spark's decimal overflow is
    a silent null; on fb3e23d3 both computed in double, without a word)."""
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", ansi)
    try:
        big = [_row(0, T0, 1.0), _row(1, T0 + dt.timedelta(hours=1), 1e13)]
        big += [_row(i, T0 + dt.timedelta(hours=i), 5.0) for i in range(2, 5)]
        total = WindowAggregate(entity="merchant", aggregation="sum", window="7d", frame="running")
        fs = FeatureSet(features=(total,), label_delay_s=7 * DAY)
        with pytest.raises(PySparkException, match=f"feature {total.name}: amount value 1.0E13"):
            compute_features(frame(spark, big), fs, vector_column=None).df.collect()

        huge = [_row(i, T0 + dt.timedelta(hours=i), 9e12) for i in range(20)]
        std = WindowAggregate(entity="merchant", aggregation="std", window="7d", frame="running")
        fs = FeatureSet(features=(std,), label_delay_s=7 * DAY)
        with pytest.raises(
            PySparkException,
            match=rf"feature {std.name}: the exact running sum of amount\^2 .* reached 1e27",
        ) as err:
            compute_features(frame(spark, huge), fs, vector_column=None).df.collect()
        assert "frame: sliding" in str(err.value)
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)
