"""The data profile the compiler's skips read (fraud_app.features.profile), counted per date
in the value counts' pass (fraud_app.features.value_counts) and combined on the driver, is
the one its own aggregation gives (data_profile): all-null and partly null inputs, the
span, log1p inputs with values <= -1, NaN and nulls, rows without a date, an empty table."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import functions as F

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


@pytest.mark.parametrize("dated", [True, False], ids=["event_date", "no_event_date"])
def test_value_days_of_the_pass_are_the_tables_in_a_non_utc_session_zone(spark, dated):
    """The encoded columns' (day, value) pairs counted per date in the value counts' pass and
    summed are the table's (data_profile's), within HyperLogLog's error, when a date is not a
    UTC day: the session zone New York, event_date the local date (or no event_date: the
    pass groups by the local date of the timestamp). Each value on every day at every other
    hour: a UTC day's pairs fell in two local dates and were counted twice (review43c:
    ~2x the table's, 400 for 200)."""
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        start = dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC)
        rows = [
            (f"t{d}_{h}_{v}", f"c{v}", start + dt.timedelta(days=d, hours=h), 1.0, None,
             f"m{v}", None)
            for d in range(10) for h in range(0, 24, 2) for v in range(20)
        ]  # fmt: skip
        df = spark.createDataFrame(rows, SCHEMA).withColumn("event_date", F.to_date("timestamp"))
        if not dated:
            df = df.drop("event_date")
        ask = ProfileAsk(distinct=("mcc",))
        own = data_profile(df, ask).value_days["mcc"]
        with value_counts(df, _features(), None, ask) as counts:
            folded = counts.profile.value_days["mcc"]
        assert 180 <= own <= 230  # 20 values x 10 days (+ the last local date's)
        assert abs(folded - own) <= 0.1 * own, (folded, own)
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)
