"""The data profile the compiler's skips read (fraud_app.features.profile), counted per date
in the value counts' pass (fraud_app.features.value_counts) and combined on the driver, is
the one its own aggregation gives (data_profile): all-null and partly null inputs, the
span, log1p inputs with values <= -1, NaN and nulls, rows without a date, an empty table."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from fraud_app.features.profile import ProfileAsk, data_profile
from fraud_app.features.spec import parse_spec
from fraud_app.features.value_counts import value_counts

pytestmark = pytest.mark.spark

SCHEMA = (
    "transaction_id string, card_id string, timestamp timestamp, amount double, "
    "device_id string, mcc string, event_date date"
)
ASK = ProfileAsk(nullable=("device_id", "mcc"), log1p=("amount",), span=True)


def _rows():
    t = dt.datetime(2024, 3, 1, 10)
    d1, d2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
    return [
        ("a", "c1", t, 5.0, None, "5411", d1),
        ("b", "c1", t + dt.timedelta(hours=30), -3.0, None, None, d2),
        ("c", "c2", t + dt.timedelta(hours=31), float("nan"), None, "5412", d2),
        ("d", "c2", None, None, None, None, d2),
        ("e", "c3", t - dt.timedelta(hours=5), -1.0, None, None, None),  # no date
        ("f", "c3", t + dt.timedelta(hours=2), float("nan"), None, None, d1),
    ]


SPEC = """
version: 1
features:
  - kind: window_agg
    entity: card
    aggregations: [count]
    windows: [1d]
"""


def _features():
    return tuple(s.feature for s in parse_spec(SPEC, source="t"))


@pytest.mark.parametrize("rows", [_rows(), _rows()[:1], []], ids=["mixed", "one", "empty"])
def test_the_profile_of_the_value_counts_pass_is_data_profiles(spark, rows):
    df = spark.createDataFrame(rows, SCHEMA)
    own = data_profile(df, ASK)
    with value_counts(df, _features(), None, ASK) as counts:
        folded = counts.profile
    assert folded is not None and folded.asked == ASK
    assert (folded.rows, folded.all_null, folded.first_us, folded.last_us) == (
        own.rows, own.all_null, own.first_us, own.last_us,
    )  # fmt: skip
    assert folded.below_log1p.keys() == own.below_log1p.keys()
    for c, (n, low) in own.below_log1p.items():
        assert folded.below_log1p[c][0] == n
        assert folded.below_log1p[c][1] == low or (
            math.isnan(low) and math.isnan(folded.below_log1p[c][1])
        )
    if rows == _rows():  # what the mixed rows hold, so that the comparison is not empty
        assert own.rows == 6 and own.all_null == frozenset({"device_id"})
        assert own.below_log1p == {"amount": (2, -3.0)}


def test_the_mins_put_nan_above_every_number(spark):
    """A date whose amounts are all NaN has the min NaN in Spark; the table's min is still
    the other date's number (Spark orders NaN above every double)."""
    t = dt.datetime(2024, 3, 1, 10)
    rows = [("a", "c1", t, float("nan"), None, None, dt.date(2024, 3, 1)),
            ("b", "c1", t, -2.0, None, None, dt.date(2024, 3, 2))]  # fmt: skip
    df = spark.createDataFrame(rows, SCHEMA)
    with value_counts(df, _features(), None, ASK) as counts:
        assert counts.profile.below_log1p == {"amount": (1, -2.0)}
    assert data_profile(df, ASK).below_log1p == {"amount": (1, -2.0)}
