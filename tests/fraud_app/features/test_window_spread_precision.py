"""The spread of a window (`std`, `amount_zscore`) on amounts a power-sum formula cannot
resolve (session 34, helper probe34a).

sumsq - sum^2 / n of the raw amounts is a difference of two large, nearly equal numbers:
a card paying 49.99 every day (a subscription) had a 7-day std of 7.8e-7 instead of 0, so
the z-score of its next amount, 74.99, was 32,099,530 where the definition says "no
spread: undefined" (the fill); at 1e9 the std of equal amounts was 17, and a real spread
of 100 on 1e9 came out as noise. Both frames ("sliding": cards, the shipped
spending_profile z-scores; "running": merchants) are compared with the brute-force
reference (tests/fraud_app/features/reference.py, `statistics.stdev`).
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import AmountZScore, WindowAggregate
from tests.fraud_app.features.canonical_data import SCHEMA
from tests.fraud_app.features.reference import reference_features

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY_S = 86_400


def _rows() -> list[tuple]:
    rng = random.Random(34)
    amounts: dict[str, list[float]] = {
        # a subscription: one amount every day, then a new one
        "sub": [49.99] * 40 + [74.99],
        "cents": [0.1] * 40 + [0.15],
        # a price change: equal amounts that are not the card's first amount
        "price": [9.99] * 10 + [14.99] * 30 + [20.0],
        # large amounts: equal ones, and a spread of 100 on 1e9
        "big_equal": [1e9 + 0.37] * 40 + [1.5e9],
        "big_spread": [1e9 + rng.gauss(0.0, 100.0) for _ in range(41)],
        "huge_spread": [3.3e12 + rng.gauss(0.0, 1e4) for _ in range(41)],
        # the running frame's exact sums hold |amount| < 9e10 (session 53, fast53)
        "near_limit": [8.9e10 + rng.gauss(0.0, 1e4) for _ in range(41)],
    }
    rows = []
    for i, (card, values) in enumerate(amounts.items()):
        for d, x in enumerate(values):
            t = T0 + dt.timedelta(days=d, hours=i, minutes=(7 * d) % 50)
            rows.append((f"{card}-{d}", card, "m0", t, x, 0, None, "5411", "POS", "FR", "FR", None))
    return rows


def _features(frame: str) -> FeatureSet:
    features = (
        AmountZScore(entity="card", window="7d", frame=frame),
        AmountZScore(entity="card", window="30d", frame=frame),
        WindowAggregate(entity="card", aggregation="std", window="7d", frame=frame),
        WindowAggregate(entity="card", aggregation="std", window="30d", frame=frame),
        WindowAggregate(
            entity="card", aggregation="std", window="7d", include_current=True, frame=frame
        ),
    )
    return FeatureSet(features=features, label_delay_s=7 * DAY_S)


@pytest.fixture(scope="module")
def rows():
    return _rows()


@pytest.mark.spark
@pytest.mark.parametrize("frame", ["sliding", "running"])
def test_window_std_and_zscore_equal_the_brute_force_reference(spark, rows, frame):
    fs = _features(frame)
    if frame == "running":  # 3.3e12 is past the exact running sums' 9e10: an error
        rows = [r for r in rows if r[1] != "huge_spread"]
    df = compute_features(spark.createDataFrame(rows, SCHEMA), fs, vector_column=None).df
    got = {r["transaction_id"]: r.asDict() for r in df.collect()}
    dicts = [dict(zip(SCHEMA.names, r, strict=True)) for r in rows]
    ref = reference_features(dicts, fs)
    scale = {r[0]: max(1.0, abs(r[4])) for r in rows}  # rounding of the row's own amount
    bad = [
        (tid, name, got[tid][name], want)
        for tid, values in ref.items()
        for name, want in values.items()
        if got[tid][name] != pytest.approx(want, rel=1e-6, abs=1e-12 * scale[tid])
    ]
    assert not bad, f"{frame}: {len(bad)} values differ from the reference, e.g. {bad[:4]}"
    # the subscription's new amount: no spread in its windows, so no z-score (the fill 0),
    # and a std of exactly 0 (it was 32,099,530 and 7.8e-7)
    for card, last in (("sub", 40), ("cents", 40), ("price", 40), ("big_equal", 40)):
        row = got[f"{card}-{last}"]
        assert row["card_amount_zscore_7d"] == 0.0, (card, row)
        assert row["card_amount_std_7d"] == 0.0, (card, row)
        assert row["card_amount_std_30d"] == 0.0 or card == "price", (card, row)
