"""`frame: running` windows of non-integer values from exact running sums (session 52,
exact52: DECIMAL; session 53, fast53: 64-bit integer limbs of 1e-5 units;
fraud_app.features.frames.exact_value, windows._exact_m2).

Until then the running sums were doubles: a window's value is the difference of two of
them, so it depended on where the sums started (the feature table's whole history vs
the scorer's slice), and the std of a dense entity whose amounts sit tight around a large
level lost its digits as the history grew (9.1e-5 relative after a year at 20 rows a
day, 0 after a year at 1,440: docs/PROBES.md, session 51 review). The references here
are exact (`fractions.Fraction` of the amounts as written)."""

from __future__ import annotations

import datetime as dt
import math
import random
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
def test_a_value_or_a_window_sum_beyond_the_exact_sums_names_the_feature(spark, ansi):
    """A value the exact sums' 64-bit integers of 1e-5 cannot hold (1e11 >= 9e10), and a
    window whose sum reaches 2^60 units (1.15e13: 130 amounts of 8.9e10 within 7 days),
    past which the exact std's products would overflow 64 bits: an error naming the
    feature and `frame: sliding`, under ANSI on and off (off: Spark's overflow is silent;
    on fb3e23d3 both computed in double, without a word). The window's check reads the
    window's sum, so the scorer's slice fails on the same rows as the full build."""
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", ansi)
    try:
        big = [_row(0, T0, 1.0), _row(1, T0 + dt.timedelta(hours=1), 1e11)]
        big += [_row(i, T0 + dt.timedelta(hours=i), 5.0) for i in range(2, 5)]
        total = WindowAggregate(entity="merchant", aggregation="sum", window="7d", frame="running")
        fs = FeatureSet(features=(total,), label_delay_s=7 * DAY)
        with pytest.raises(PySparkException, match=f"feature {total.name}: amount value 1.0E11"):
            compute_features(frame(spark, big), fs, vector_column=None).df.collect()

        huge = [_row(i, T0 + dt.timedelta(minutes=30 * i), 8.9e10) for i in range(140)]
        std = WindowAggregate(entity="merchant", aggregation="std", window="7d", frame="running")
        zscore = AmountZScore(entity="merchant", window="7d", frame="running")
        fs = FeatureSet(features=(std, zscore), label_delay_s=7 * DAY)
        with pytest.raises(
            PySparkException,
            match=rf"feature {std.name}, {zscore.name}: the sum of amount over one window "
            r"reached 1\.15e13",
        ) as err:
            compute_features(frame(spark, huge), fs, vector_column=None).df.collect()
        assert "frame: sliding" in str(err.value)
        # below the limit (129 x 8.9e10 = 1.148e13): equal values, a std of exactly 0
        fs = FeatureSet(features=(std,), label_delay_s=7 * DAY)
        out = compute_features(frame(spark, huge[:130]), fs, vector_column=None).df
        assert {r[std.name] for r in out.collect() if r[std.name] is not None} == {0.0}
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)


@pytest.mark.parametrize("ansi", ["true", "false"])
def test_a_window_that_jumps_past_64_bits_at_once_names_the_feature(spark, ansi):
    """1,100 amounts of 8.9e10 at one timestamp, then one row an hour later: that row's
    window sums 9.8e13 (9.8e18 units, past 2^63) without an earlier row at the 1.15e13
    limit to fail first. On fast53's tip the exact std's rounded mean c was not zeroed
    past the limit (the window sums were): n c overflowed 64 bits in a step computed
    before the feature's check, and ANSI on raised Spark's ARITHMETIC_OVERFLOW without
    the feature's name (review53f)."""
    previous = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", ansi)
    try:
        rows = [_row(i, T0, 8.9e10) for i in range(1100)]
        rows.append(_row(1100, T0 + dt.timedelta(hours=1), 1.0))
        std = WindowAggregate(entity="merchant", aggregation="std", window="7d", frame="running")
        fs = FeatureSet(features=(std,), label_delay_s=7 * DAY)
        with pytest.raises(
            PySparkException,
            match=rf"feature {std.name}: the sum of amount over one window reached 1\.15e13",
        ):
            compute_features(frame(spark, rows), fs, vector_column=None).df.collect()
    finally:
        spark.conf.set("spark.sql.ansi.enabled", previous)


def _tight_rows() -> list[tuple]:
    """Merchants whose amounts sit tight around a large level (mean 1e4..8e10, std
    1e-3..1e-5 on 5 decimals), one around 0 with negatives, and a wide one: 40 rows each,
    every 2 hours."""
    rng = random.Random(53)
    levels = [(1e4, 1e-3), (1e5, 1e-4), (1e6, 1e-5), (1e9, 1e-4), (8e10, 1e-5), (0.0, 5.0)]
    levels.append((50.0, 40.0))
    rows = []
    for m, (mean, std) in enumerate(levels):
        for i in range(40):
            x = round(mean + std * rng.gauss(0.0, 1.0), 5)
            ts = T0 + dt.timedelta(hours=2 * i, minutes=m)
            rows.append(_row(m * 100 + i, ts, x, merchant=f"m{m}"))
    return rows


def test_tight_entities_running_std_equals_the_exact_reference(spark):
    """The m2 of the window in 64-bit integer limbs (windows._exact_m2): the std within
    1e-13 relative of the exact one (Fractions of the 5-decimal values), the z-score
    within the rounding of x - mean in double, for a mean of 1e4..8e10 with a std of
    1e-3..1e-5, where m2 = S2 - S1^2 / n in double from the same exact sums is off by
    2e-3 (1e4, 1e-3) to 100 % and more (fast53's probe, docs/PROBES.md)."""
    rows = _tight_rows()
    std = WindowAggregate(entity="merchant", aggregation="std", window="1d", frame="running")
    zscore = AmountZScore(entity="merchant", window="1d", frame="running")
    fs = FeatureSet(features=(std, zscore), label_delay_s=7 * DAY)
    out = compute_features(frame(spark, rows), fs, vector_column=None).df
    got = {r["transaction_id"]: r for r in out.collect()}
    worst = {"std": 0.0, "z": 0.0}
    for r in rows:
        window = [x for x in rows if x[2] == r[2] and r[3] - dt.timedelta(days=1) <= x[3] < r[3]]
        if len(window) < 2:
            continue
        _, exact_mean, exact_std = _exact(window, r[3], DAY)
        value = got[r[0]]
        if exact_std == 0:  # equal values: exactly 0, no z-score (the fill, 0)
            assert value[std.name] == 0.0 and value[zscore.name] == 0.0, (r, value)
            continue
        worst["std"] = max(worst["std"], abs(value[std.name] / exact_std - 1))
        if exact_std <= 1e-9 * max(1.0, abs(float(exact_mean))):  # "no spread": undefined
            assert value[zscore.name] == 0.0, (r, value)  # the fill
            continue
        exact_z = float((Fraction(repr(r[4])) - exact_mean) / Fraction(exact_std))
        # x - mean in double: the mean's last bit (|mean| 2^-52) over the std, the z-score's
        # own rounding (not the m2's): 7e-3 at 8e10 +- 1e-5
        allowed = 1e-13 * max(1, abs(exact_z)) + 4 * abs(float(exact_mean)) * 2**-52 / exact_std
        worst["z"] = max(worst["z"], abs(value[zscore.name] - exact_z) / allowed)
    assert worst["std"] < 1e-13 and worst["z"] < 1, worst
