"""Window features at their edges, against the brute-force reference (session 50 probe):
rows exactly at t - W and t - lag (and 1 us inside), several rows of one card at the SAME
instant, a lag longer than its window, a window longer than the data, frauds whose
label_time equals or precedes their timestamp, zero amounts (a mean of 0, one row's std),
a null entity (its rows are not grouped together) and null values of the aggregated
column, also as the current row of an `include_current` feature: there the frame's own
sum, mean and std were lost (a null current value made the sum null: `sum_incl` read 0.0,
`mean_incl` and `std_incl` their fill). The same rows shuffled into 5 partitions give the
same values: a copy of them under other ids, in the same job as the rows in order, so the
features are planned and run once (two compute_features calls took twice the time,
review50d).
"""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet, parse_spec
from tests.fraud_app.features.canonical_data import SCHEMA, frame
from tests.fraud_app.features.reference import reference_features

pytestmark = pytest.mark.spark

T0 = dt.datetime(2024, 3, 30, 23, 0, tzinfo=dt.UTC)  # a month's end, the EU's DST night
H, D, US = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(microseconds=1)

SPEC = """
version: 1
features:
  - {kind: window_agg, entity: card, aggregations: [count, sum, mean, std, max], windows: [1h, 36500d]}
  - {kind: window_agg, entity: merchant, aggregations: [count, sum, mean, std, min], windows: [1h]}
  - {kind: window_agg, entity: card, aggregations: [count, sum, std], window: 1h, lags: [1h, 2h]}
  - {kind: window_agg, entity: merchant, aggregations: [sum, std], window: 1h, lag: 2h}
  - {kind: window_agg, entity: card, aggregations: [count, sum, mean, std, max, min], window: 1h, include_current: true}
  - {kind: window_agg, entity: merchant, aggregations: [count, sum, mean, std], window: 1h, include_current: true}
  - {kind: amount_ratio, entity: card, window: 1h}
  - {kind: amount_zscore, entity: merchant, window: 1d}
  - {kind: time_since_previous, entity: card, cap: 1d}
  - {kind: fraud_rate, entity: card, windows: [1h, 1d], mature_only: false}
  - {kind: fraud_rate, entity: merchant, window: 1h, lag: 2h}
"""


def _rows() -> list[tuple]:
    rows: list[tuple] = []

    def add(card, merchant, t, amount, label=0, known=dt.timedelta(0)):
        lt = None if known is None else t + known
        rows.append((f"t{len(rows):03d}", card, merchant, t, amount, label, lt,
                     "5411", "POS", "FR", "FR", None))  # fmt: skip

    for amount in (10.0, 20.0, 30.0):  # three rows at one instant, frauds known at once
        add("c1", "m1", T0, amount, label=1)
    add("c1", "m1", T0 + H, 40.0)  # exactly t0 + 1h: its 1h window holds the three
    add("c1", "m1", T0 + H + US, 50.0)  # 1 us later: it does not
    add("c1", "m1", T0 + 2 * H, 0.0)
    add("c1", "m1", T0 + 2 * H, None)  # a null value, at the same instant as a zero
    add("c1", "m1", T0 + 3 * H, 5.0, label=1, known=-H)  # known before it happened
    add("c1", "m1", T0 + 3 * H, None)
    add("c1", "m1", T0 + 3 * H + 30 * dt.timedelta(minutes=1), None)
    add("c2", "m1", T0 + 2 * H, 0.0)  # a card of one row, amount 0
    add("c3", "m1", T0 + D, 0.0)
    add("c3", "m1", T0 + D + H, 3.0)  # its window's mean is 0
    for i in range(4):  # rows without a card: not one card of their own
        add(None, "m1", T0 + i * H, 7.0, label=i % 2)
    rng = random.Random(50)
    t = T0 - 2 * D
    for _ in range(45):
        t += rng.choice([dt.timedelta(0), H, H / 2, US, D])
        add(rng.choice(["c1", "c4", None]), rng.choice(["m1", "m2"]), t,
            rng.choice([None, 0.0, 1.0, 12.5]), rng.choice([0, 1]),
            rng.choice([dt.timedelta(0), -H, H, None]))  # fmt: skip
    return rows


COPY = "s:"  # the shuffled copy's ids: its own cards, merchants and rows


def _copy(row: tuple) -> tuple:
    """The row under the copy's ids (a null card or merchant stays null)."""
    ids = (0, 1, 2)  # transaction_id, card_id, merchant_id
    return tuple(COPY + v if i in ids and v is not None else v for i, v in enumerate(row))


def test_window_edges_match_the_reference_in_any_row_order(spark) -> None:
    fs = FeatureSet(
        features=tuple(s.feature for s in parse_spec(SPEC, source="edges")),
        label_delay_s=86_400,
    )
    rows = _rows()
    shuffled = [_copy(r) for r in rows]
    random.Random(1).shuffle(shuffled)
    # the rows in order and the shuffled copy in 5 partitions, one compute_features
    df = frame(spark, rows).unionByName(frame(spark, shuffled).repartition(5))
    result = compute_features(df, fs, skip_all_null=False)
    selected = result.df.select("transaction_id", *result.feature_names).collect()
    values = {r["transaction_id"]: r.asDict() for r in selected}
    got = {r[0]: values[r[0]] for r in rows}
    again = {r[0]: values[COPY + r[0]] for r in rows}
    expected = reference_features([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], fs)
    assert set(result.feature_names) == set(expected["t000"])  # none skipped
    wrong = [
        (tid, name, value, got[tid][name])
        for tid, values in expected.items()
        for name, value in values.items()
        if not math.isclose(got[tid][name], value, rel_tol=1e-9, abs_tol=1e-9)
    ]
    assert not wrong, wrong[:10]
    # the null current value of an include_current feature keeps the frame's values
    null_current = got["t006"]  # amount null; 40.0 and 50.0 in its hour
    assert null_current["card_amount_sum_1h_incl"] == null_current["card_amount_sum_1h"] >= 90
    assert null_current["card_amount_mean_1h_incl"] == null_current["card_amount_mean_1h"]
    assert null_current["card_amount_std_1h_incl"] == null_current["card_amount_std_1h"] > 0
    moved = [
        (tid, name, value, again[tid][name])
        for tid, values in got.items()
        for name, value in values.items()
        if name != "transaction_id" and not math.isclose(again[tid][name], value, rel_tol=1e-12)
    ]
    assert not moved, moved[:10]
