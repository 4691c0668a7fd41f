"""A snapshot encoding table is broadcast by hint only while it is small (session 43): the
hint was given whatever the table's size, and a broadcast is collected on the driver
first, so a spec that encodes a high-cardinality column (merchant_id: values x days rows)
sent the whole table through it. The table's rows are estimated from the compiler's data
profile (the encoded columns' distinct (date, value) pairs,
fraud_app.features.encodings.estimated_rows); past
fraud_app.features.encodings.BROADCAST_ROWS Spark's own join choice decides (here its
size-based broadcasts are off, as for tables past its 10 MB threshold). The features are
the same either way. Real Spark; its SQL status store says which tables were broadcast."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from pyspark.sql import functions as F

from fraud_app.features import encodings
from fraud_app.features.compile import compute_features
from fraud_app.features.encoding_kinds import FrequencyEncoding, TargetEncoding
from fraud_app.features.spec import FeatureSet
from tests.fraud_app.features.canonical_data import SCHEMA

pytestmark = pytest.mark.spark
# Spark's own size-based broadcasts off; the plan text of each execution "formatted" (the
# tests' session posts "simple", tests/conftest.py), the form the regexes below read.
SETTINGS = {
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.adaptive.autoBroadcastJoinThreshold": "-1",
    "spark.sql.ui.explainMode": "formatted",
}
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FEATURES = (
    FrequencyEncoding(column="merchant_id"),
    TargetEncoding(column="merchant_id", smoothing=5),
    FrequencyEncoding(column="mcc"),
)


def _rows(n: int = 2_000):
    """n rows over 20 days; 400 merchants (with nulls), 7 mccs; frauds known 2 days later."""
    out = []
    for i in range(n):
        ts = START + dt.timedelta(seconds=i * 20 * 86_400 // n)
        fraud = int((i * 2654435761) % 17 == 0)
        known = ts + dt.timedelta(days=2) if fraud else None
        merchant = None if i % 97 == 0 else f"m{(i * 31) % 400}"
        out.append((f"t{i}", f"c{i % 50}", merchant, ts, 10.0, fraud, known, str(i % 7),
                    "POS", "FR", "FR", None))  # fmt: skip
    return out


def _executions(spark) -> list:
    store = spark._jsparkSession.sharedState().statusStore()
    listed = store.executionsList()
    return [listed.apply(i) for i in range(listed.size())]


def _features(spark):
    """(each row's encodings, how many SQL executions broadcast an encoding table)."""
    since = max((e.executionId() for e in _executions(spark)), default=-1)
    before = {k: spark.conf.get(k, None) for k in SETTINGS}
    for k, v in SETTINGS.items():
        spark.conf.set(k, v)
    try:
        df = spark.createDataFrame(_rows(), SCHEMA)
        result = compute_features(df, FeatureSet(features=FEATURES, label_delay_s=3 * 86_400))
        names = [f.name for f in FEATURES]
        rows = {r["transaction_id"]: tuple(r[n] for n in names) for r in result.df.collect()}
    finally:
        for k, v in before.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    found = re.compile(r"BroadcastExchange\nInput \[\d+\]: \[_enc\d+_key")
    broadcasts = sum(bool(found.search(e.physicalPlanDescription()))
                     for e in _executions(spark) if e.executionId() > since)  # fmt: skip
    return rows, broadcasts


def test_a_large_encoding_table_is_joined_without_going_through_the_driver(
    spark, monkeypatch, caplog
):
    small, hinted = _features(spark)
    # ~100 merchants a day (+ null on some days) + 7 mccs a day, x 20 days: ~2,200 rows
    monkeypatch.setattr(encodings, "BROADCAST_ROWS", 1_000, raising=False)
    with caplog.at_level(logging.INFO, logger="fraud_app.features.encodings"):
        large, not_hinted = _features(spark)
    # the line names the table's columns (4cef8e2d: only its estimated rows, so nothing
    # said which encoded column made it large)
    line = re.search(r"the snapshot encoding table of merchant_id, mcc: ~(\d+) rows", caplog.text)
    assert line and 1_500 < int(line[1]) < 3_000, caplog.text
    assert hinted == 1  # within the bound: broadcast, as before
    assert not_hinted == 0  # was 1: the table broadcast (collected by the driver)
    assert large == small and len(large) == 2_000
    assert len({v[0] for v in large.values()}) > 20  # the merchants' frequencies differ


def test_the_estimate_is_the_columns_value_days():
    from fraud_app.features.profile import DataProfile

    day = 86_400 * 10**6
    profile = DataProfile(rows=10, value_days={"m": 2_050, "c": 140})
    assert encodings.estimated_rows(profile, day, 3 * day, [(0, "m"), (1, "c")]) == 2_190
    assert encodings.estimated_rows(profile, 7 * day, 0, [(0, "m")]) == 2_050  # a week
    assert encodings.estimated_rows(profile, day // 24, 0, [(0, "c")]) == 140 * 24  # an hour
    assert encodings.estimated_rows(profile, day, 0, [(0, "x")]) is None  # not profiled
    assert encodings.estimated_rows(None, day, 0, [(0, "m")]) is None


def test_the_value_days_estimate_the_table(spark):
    """The estimate against the snapshot table it sizes: within the HyperLogLog error and
    the matured / known-fraud periods (at most ~2x), both from the same rows."""
    from fraud_app.features.compile import _prepared
    from fraud_app.features.profile import data_profile, profile_ask

    df = spark.createDataFrame(_rows(), SCHEMA)
    profile = data_profile(df, profile_ask(df.columns, FEATURES, False))
    assert set(profile.value_days) == {"merchant_id", "mcc"}
    day = 86_400 * 10**6
    estimate = encodings.estimated_rows(profile, day, 3 * day, [(0, "merchant_id"), (1, "mcc")])
    source = _prepared(df, 3 * 86_400)
    table = encodings._snapshot_table(source, day, 3 * day, [(0, "merchant_id"), (1, "mcc")])
    rows = table.count()
    assert rows / 2.2 <= estimate <= rows * 1.1, (estimate, rows)


def test_the_joins_compute_their_keys_in_their_condition(spark, monkeypatch):
    """Session 54 (ci54b): the row's group key and period were first added to the grown
    plan by a `select` of their own (one more analysis of the whole plan, on which every
    DataFrame call costs most); they are now computed in each join's condition, and the
    only calls on the frame given are its joins. The values: the first test's (hint and
    none) and test_point_in_time's brute-force reference. No Spark job."""
    from pyspark.sql.classic.dataframe import DataFrame

    df = spark.createDataFrame(_rows(50), SCHEMA).select("*", F.lit(0).alias("_ts"),
                                                      F.lit(None).cast("long").alias("_known"),
                                                      F.lit(0).alias("_fraud"))  # fmt: skip
    source = df.select("*")  # the rows the tables aggregate (compute_features' `prepared`)
    calls: list[str] = []

    def spy(name):
        inner = getattr(DataFrame, name)

        def called(self, *args, **kwargs):
            if self is df:
                calls.append(name)
            return inner(self, *args, **kwargs)

        return called

    for name in ("select", "withColumn", "withColumns", "join", "drop"):
        monkeypatch.setattr(DataFrame, name, spy(name))
    out, exprs = encodings.add_encodings(df, FEATURES, label_delay_s=3 * 86_400, source=source)
    monkeypatch.undo()
    assert calls == ["join"]  # the first group's; the next ones join what it made
    assert set(exprs) == {f.name for f in FEATURES}
    assert [c for c in out.columns if c.endswith("_key")] == ["_enc0_key", "_enc1_key"]
