"""Review of session 34 (helper review34): the running frame's spread (`std`,
`amount_zscore`) when the entity's first amount is far from its later ones.

probe34a's running m2 shifts the amounts by K, the entity's FIRST value, and zeroes what
is below 8 eps N C2 (N the entity's rows so far, C2 its running sum of (x - K)^2). A card
whose first payment was 1e6 and then pays ~50 every day: (x - K)^2 ~ 1e12 per row, so
after 200 days the bound is ~35 (after 1000 days ~900) and a real 7-day spread of 0.25 (m2 ~ 0.4) read as 0
(std 0, z-score undefined), while the scoring job's history slice (which starts after the
1e6 payment) computed 0.27: wrong numbers and train/serve skew beyond rounding.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import AmountZScore, WindowAggregate
from tests.fraud_app.features.canonical_data import SCHEMA
from tests.fraud_app.features.reference import reference_features

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY_S = 86_400
DAYS = 1000


def _rows() -> list[tuple]:
    amounts = {"outlier_first": [1e6] + [50.0 + 0.5 * (d % 2) for d in range(DAYS)]}
    rows = []
    for card, values in amounts.items():
        for d, x in enumerate(values):
            t = T0 + dt.timedelta(days=d, minutes=(7 * d) % 50)
            rows.append((f"{card}-{d}", card, "m0", t, x, 0, None, "5411", "POS", "FR", "FR", None))
    return rows


FS = FeatureSet(
    features=(
        AmountZScore(entity="card", window="7d", frame="running"),
        WindowAggregate(entity="card", aggregation="std", window="7d", frame="running"),
    ),
    label_delay_s=7 * DAY_S,
)


@pytest.mark.spark
def test_running_spread_after_an_outlying_first_amount_equals_the_reference(spark):
    rows = _rows()
    df = compute_features(spark.createDataFrame(rows, SCHEMA), FS, vector_column=None).df
    got = {r["transaction_id"]: r.asDict() for r in df.collect()}
    ref = reference_features([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], FS)
    late = [tid for tid in ref if int(tid.rsplit("-", 1)[1]) > 20]  # windows without the 1e6
    bad = [
        (tid, name, got[tid][name], want)
        for tid in late
        for name, want in ref[tid].items()
        if got[tid][name] != pytest.approx(want, rel=1e-6, abs=1e-9)
    ]
    assert not bad, f"{len(bad)} of {2 * len(late)} values differ, e.g. {bad[:3]}"
    # the scoring job's history slice (the last 60 days) computes the same values
    sliced = [r for r in rows if int(r[0].rsplit("-", 1)[1]) > DAYS - 60]
    part = compute_features(spark.createDataFrame(sliced, SCHEMA), FS, vector_column=None).df
    skew = [
        (r["transaction_id"], name, r[name], got[r["transaction_id"]][name])
        for r in part.collect()
        if int(r["transaction_id"].rsplit("-", 1)[1]) > DAYS - 50
        for name in ref[r["transaction_id"]]
        if r[name] != pytest.approx(got[r["transaction_id"]][name], rel=1e-6, abs=1e-9)
    ]
    assert not skew, f"history slice and full build differ: {skew[:3]}"
