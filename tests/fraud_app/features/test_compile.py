"""Compiled features against hand-computed values; skipping; the written feature table."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest

from fraud_app.features.compile import compute_features
from fraud_app.features.encoding_kinds import FrequencyEncoding
from fraud_app.features.row_kinds import CrossBorder, OneHot
from fraud_app.features.spec import FeatureSet
from fraud_app.features.table import read_feature_metadata, write_feature_table
from fraud_app.features.window_kinds import (
    AmountRatio,
    FraudRate,
    TimeSincePrevious,
    WindowAggregate,
)
from pipelines.cli import main
from tests.fraud_app.features.canonical_data import SCHEMA

pytestmark = pytest.mark.spark

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _at(**kw) -> dt.datetime:
    return T0 + dt.timedelta(**kw)


def _row(tid, card, merchant, ts, amount, label=0, label_time=None):
    return (tid, card, merchant, ts, amount, label, label_time, "5411", "POS", "FR", "FR", None)


# Card A: a tie at 00:30 (a1, a2), then 01:15, then exactly 24 h after the tie.
# Merchant M: a fraud confirmed after 2 days (m_f), then queries at 1.5, 3 and 8.5 days.
HAND_ROWS = [
    _row("a0", "A", "X", _at(minutes=0), 10.0),
    _row("a1", "A", "X", _at(minutes=30), 20.0),
    _row("a2", "A", "X", _at(minutes=30), 30.0),
    _row("a3", "A", "X", _at(minutes=75), 40.0),
    _row("a4", "A", "X", _at(days=1, minutes=30), 50.0),
    _row("b0", "B", "X", _at(minutes=45), 100.0),
    _row("m_f", "C1", "M", _at(days=0), 5.0, 1, _at(days=2)),
    _row("m_n", "C2", "M", _at(days=1), 5.0, 0, _at(days=31)),
    _row("q1", "C3", "M", _at(days=1.5), 5.0),
    _row("q2", "C4", "M", _at(days=3), 5.0),
    _row("q3", "C5", "M", _at(days=8.5), 5.0),
]

CARD = [
    WindowAggregate(aggregation="count", window="1h"),
    WindowAggregate(aggregation="count", window="24h"),
    WindowAggregate(aggregation="sum", window="24h"),
    WindowAggregate(aggregation="mean", window="24h"),
    WindowAggregate(aggregation="max", window="24h"),
    WindowAggregate(aggregation="count", window="1h", include_current=True),
    WindowAggregate(aggregation="sum", window="1h", include_current=True),
    TimeSincePrevious(),
    AmountRatio(window="30d"),
]
MERCHANT = [
    FraudRate(entity="merchant", window="7d", mature_only=False),
    FraudRate(entity="merchant", window="7d"),
]
CAP = 30 * 86_400.0
EXPECTED_CARD = {
    #      cnt1h cnt24h sum24h mean24h max24h cnt1h+ sum1h+ since_prev ratio30d
    "a0": (0, 0, 0, 0, 0, 1, 10, CAP, 1.0),
    "a1": (1, 1, 10, 10, 10, 2, 30, 1800, 2.0),
    "a2": (1, 1, 10, 10, 10, 2, 40, 1800, 3.0),  # the tie a1 is not "before" a2
    "a3": (2, 3, 60, 20, 30, 3, 90, 2700, 2.0),  # [00:15, 01:15): a1, a2
    "a4": (0, 3, 90, 30, 40, 1, 50, 83_700, 2.0),  # a1/a2 at exactly t - 24h count
    "b0": (0, 0, 0, 0, 0, 1, 100, CAP, 1.0),
}


def _compute(spark, features, drop=(), **kw):
    df = spark.createDataFrame(HAND_ROWS, SCHEMA).drop(*drop)
    fs = FeatureSet(features=tuple(features), label_delay_s=7 * 86_400)
    result = compute_features(df, fs, **kw)
    return {r["transaction_id"]: r.asDict() for r in result.df.collect()}, result


def test_card_velocity_matches_hand_computed_values(spark):
    rows, result = _compute(spark, CARD)
    for tid, expected in EXPECTED_CARD.items():
        got = tuple(rows[tid][f.name] for f in CARD)
        assert got == pytest.approx(expected), tid
    assert rows["a3"]["features"] == pytest.approx(list(EXPECTED_CARD["a3"]))
    assert result.feature_names == tuple(f.name for f in CARD)


def test_pair_stage_follows_its_entity_and_shuffles_nothing_of_its_own(spark):
    """A `same:` pair stage runs right after its entity's stage, whatever the spec order,
    and partitions by (entity, pair key): the plan shuffles the table once per entity
    (not once more for the pair key), and the pair's values are the hand-computed ones."""
    pair = WindowAggregate(aggregation="count", window="30d", same="merchant_id")
    features = [MERCHANT[0], pair, CARD[1]]  # merchant first, the pair before its card
    df = spark.createDataFrame(HAND_ROWS, SCHEMA)
    result = compute_features(df, FeatureSet(features=tuple(features), label_delay_s=7 * 86_400))
    plan = result.df._jdf.queryExecution().executedPlan().toString()  # before running it
    rows = {r["transaction_id"]: r.asDict() for r in result.df.collect()}
    shuffled = re.findall(r"Exchange hashpartitioning\((\w+)#", plan)
    # merchant_id is optional: keyed by coalesce(merchant_id, row id), a projected `_w0`
    assert len(shuffled) == 2 and "card_id" in shuffled, plan
    # card A with merchant X: the tie a1/a2 is not "before" either; a4 sees all four
    expected = {"a0": 0, "a1": 1, "a2": 1, "a3": 3, "a4": 4, "b0": 0, "q1": 0, "m_n": 0}
    assert {t: rows[t][pair.name] for t in expected} == expected
    assert rows["a3"][CARD[1].name] == 3  # the card's own stage is unchanged


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        # label_time known: m_f counts from day 2 on. known_7d on [t-7d, t); mature on [t-14d, t-7d)
        ((), {"q1": (0.0, 0.0), "q2": (1 / 3, 0.0), "q3": (0.0, 0.5)}),
        # no label_time: m_f known at day 0 + 7 days (the recent window is then 0 on every
        # row, which is why the feature step skips it: computed here without the skip)
        (("label_time",), {"q1": (0.0, 0.0), "q2": (0.0, 0.0), "q3": (0.0, 0.5)}),
    ],
)
def test_merchant_fraud_rates_count_only_known_labels(spark, drop, expected):
    rows, _ = _compute(spark, MERCHANT, drop, skip_all_null=False)
    for tid, values in expected.items():
        assert (rows[tid][MERCHANT[0].name], rows[tid][MERCHANT[1].name]) == pytest.approx(values)


TIE_ROWS = [  # a fraud of merchant Z confirmed at day 2; rows of Z at exactly days 2 and 7
    _row("z_f", "K1", "Z", _at(days=0), 5.0, 1, _at(days=2)),
    _row("z_2", "K2", "Z", _at(days=2), 5.0),
    _row("z_7", "K3", "Z", _at(days=7), 5.0),
]


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ((), {"z_2": 0.0, "z_7": 0.5}),  # known at day 2: not before z_2, before z_7
        (("label_time",), {"z_2": 0.0, "z_7": 0.0}),  # known at day 0 + 7 d: not before z_7
    ],
)
def test_a_label_known_at_exactly_t_is_not_yet_known_at_t(spark, drop, expected):
    """review53b: the windowed fraud rates counted a label known AT t (`<=`), the
    encodings only one known before their period's start: on a coarse label_time clock
    a label stamped 10:05 counted for a transaction at 10:05:00, though it may have been
    learnt later that minute. One rule now, known strictly before t, with label_time
    (events) and with the label delay alone (a range)."""
    rate = FraudRate(entity="merchant", window="30d", mature_only=False)
    df = spark.createDataFrame(TIE_ROWS, SCHEMA).drop(*drop)
    fs = FeatureSet(features=(rate,), label_delay_s=7 * 86_400)
    result = compute_features(df, fs, skip_all_null=False)
    got = {r["transaction_id"]: r[rate.name] for r in result.df.collect()}
    assert {t: got[t] for t in expected} == pytest.approx(expected)


def test_missing_input_column_skips_feature_with_warning(spark, caplog):
    features = [
        CrossBorder(),
        FrequencyEncoding(column="mcc"),
        WindowAggregate(aggregation="count", window="1h"),
        WindowAggregate(aggregation="count", window="1h", same="mcc"),  # `same:` an input too
        OneHot(column="mcc", value="5411"),
    ]
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.compile"):
        rows, result = _compute(spark, features, drop=("card_country", "mcc"))
    assert result.feature_names == ("card_count_1h",)
    assert {s.name: s.missing for s in result.skipped} == {
        "is_cross_border": ("card_country",),
        "mcc_freq": ("mcc",),
        "card_same_mcc_count_1h": ("mcc",),
        "mcc_is_5411": ("mcc",),
    }
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1  # one warning lists every skipped feature
    assert "is_cross_border (absent: card_country)" in warned[0]
    assert "mcc_freq (absent: mcc)" in warned[0]
    assert rows["a1"]["card_count_1h"] == 1.0


def test_all_null_input_columns_skip_their_features_and_leave_the_rest_unchanged(spark, caplog):
    """ETL creates absent optional columns as all-null columns: their features carry no
    information (a frequency of 1.0 everywhere, a constant cross-border flag) and are skipped."""
    from pyspark.sql import functions as F

    features = [
        CrossBorder(),
        FrequencyEncoding(column="mcc"),
        FrequencyEncoding(column="channel"),
        WindowAggregate(aggregation="count", window="1h"),
        WindowAggregate(entity="device", aggregation="count", window="1d"),
    ]
    base = spark.createDataFrame(HAND_ROWS, SCHEMA)
    nulled = base.withColumn("mcc", F.lit(None).cast("string")).drop("card_country")
    fs = FeatureSet(features=tuple(features), label_delay_s=7 * 86_400)
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.compile"):
        result = compute_features(nulled, fs)
    assert result.feature_names == ("channel_freq", "card_count_1h")
    skipped = {s.name: (s.missing, s.all_null) for s in result.skipped}
    assert skipped == {
        "is_cross_border": (("card_country",), ()),
        "mcc_freq": ((), ("mcc",)),
        "device_count_1d": ((), ("device_id",)),  # device_id is null in every hand row
    }
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "3 feature(s) skipped" in warned[0]
    for part in ("is_cross_border (absent: card_country)", "mcc_freq (all null: mcc)",
                 "device_count_1d (all null: device_id)"):  # fmt: skip
        assert part in warned[0]
    kept = FeatureSet(features=(features[2], features[3]), label_delay_s=7 * 86_400)
    alone = {r["transaction_id"]: r["features"] for r in compute_features(base, kept).df.collect()}
    got = {r["transaction_id"]: r["features"] for r in result.df.collect()}
    assert got == alone
    unskipped = compute_features(nulled, fs, skip_all_null=False)
    assert "mcc_freq" in unskipped.feature_names


@pytest.mark.parametrize("how", ["absent", "all_null"])
def test_label_windows_no_label_can_reach_are_skipped_without_label_time(spark, caplog, how):
    """Without label_time a label is known `delay` after its transaction: a fraud-rate
    window that ends within the delay (the recent 7-day window with a 7-day delay) is 0
    on every row, so it is skipped and named; the windows that reach past the delay stay
    and are unchanged; with label_time the recent window is kept."""
    from pyspark.sql import functions as F

    features = [
        FraudRate(entity="merchant", window="7d", mature_only=False),  # 0 + 7d <= 7d: empty
        FraudRate(entity="merchant", window="9d", mature_only=False),  # 9d > 7d: reaches
        FraudRate(entity="merchant", window="1d", lag="label_delay"),  # settled: reaches
        FraudRate(entity="merchant", window="2d", lag="5d"),  # 5d + 2d = 7d: empty
        WindowAggregate(aggregation="count", window="1h"),
    ]
    fs = FeatureSet(features=tuple(features), label_delay_s=7 * 86_400)
    base = spark.createDataFrame(HAND_ROWS, SCHEMA)
    with_times = compute_features(base, fs)
    assert with_times.skipped == ()  # label_time set: every window can see labels
    data = (
        base.drop("label_time")
        if how == "absent"
        else base.withColumn("label_time", F.lit(None).cast("timestamp"))
    )
    with caplog.at_level(logging.WARNING, logger="fraud_app.features.compile"):
        result = compute_features(data, fs)
    assert [s.name for s in result.skipped] == [
        "merchant_known_fraud_rate_7d",
        "merchant_fraud_rate_2d_lag5d",
    ]
    assert all(s.labels_unknown and s.to_dict()["labels_unknown"] for s in result.skipped)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "2 feature(s) skipped" in warned[0]
    assert "merchant_known_fraud_rate_7d (no label_time, and its window ends within" in warned[0]
    # the skipped ones were indeed 0 everywhere; the kept ones are the same as unskipped
    full = compute_features(data, fs, skip_all_null=False)
    rows = {r["transaction_id"]: r for r in full.df.collect()}
    assert {r["merchant_known_fraud_rate_7d"] for r in rows.values()} == {0.0}
    assert {r["merchant_fraud_rate_2d_lag5d"] for r in rows.values()} == {0.0}
    assert rows["q3"]["merchant_known_fraud_rate_9d"] > 0  # m_f (day 0) known at day 7
    for r in result.df.collect():
        for name in result.feature_names:
            assert r[name] == rows[r["transaction_id"]][name]


def test_feature_table_and_metadata_via_cli(spark, tmp_path, capsys):
    canonical = tmp_path / "canonical"
    spark.createDataFrame(HAND_ROWS, SCHEMA).write.parquet(str(canonical))
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "card.yaml").write_text(
        "version: 1\nfeatures:\n"
        "  - {kind: window_agg, entity: card, aggregations: [count, sum], windows: [1h, 24h]}\n"
        "  - {kind: calendar, parts: [hour_of_day]}\n"
        "  - {kind: cross_border}\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"paths: {{root: {tmp_path}}}\nfeatures: {{spec_dir: {specs}, label_delay_days: 7}}\n"
    )
    assert main(["-c", str(config), "features", "--spec-file", "card.yaml"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == len(HAND_ROWS)
    meta = read_feature_metadata(summary["output_path"])
    names = meta["feature_names"]
    assert names == [
        "card_count_1h",
        "card_count_24h",
        "card_amount_sum_1h",
        "card_amount_sum_24h",
        "hour_of_day",
        "is_cross_border",
    ]
    assert meta["vector_column"] == "features" and meta["label_column"] == "label"
    table = spark.read.parquet(summary["output_path"])
    assert {"transaction_id", "card_id", "timestamp", "label", "label_time", "event_date"} <= set(
        table.columns
    )
    assert dict(table.dtypes)["features"] == "array<float>"
    a3 = table.where("transaction_id = 'a3'").first()
    assert a3["features"] == pytest.approx([2, 3, 50, 60, 1, 0])
    assert [a3[n] for n in names] == pytest.approx(a3["features"])


def test_write_replaces_previous_table(spark, tmp_path):
    df = spark.createDataFrame(HAND_ROWS[:3], SCHEMA)
    fs = FeatureSet(features=(CARD[0],), label_delay_s=0)
    out = str(tmp_path / "features")
    write_feature_table(spark, compute_features(df, fs), fs, out)
    summary = write_feature_table(spark, compute_features(df.limit(2), fs), fs, out)
    assert summary.rows == 2 == spark.read.parquet(out).count()


@pytest.mark.parametrize("fill", [0.0, -1.0, 2_592_000.0, 1e-300, 0.1, float("inf"), float("nan")])
def test_sql_fill_and_vector_equal_the_column_expressions_bit_for_bit(spark, fill):
    """The output's window features are filled and assembled by SQL text (one JVM call
    each); it must give the values of the Column expressions it replaces, for nulls, NaN,
    infinities, signed zeros and values a float32 rounds."""
    import math
    import struct

    from pyspark.sql import functions as F

    from fraud_app.features.compile import _filled, filled_sql, vector_sql

    values = [None, math.nan, math.inf, -math.inf, -0.0, 0.0, 1.0 / 3.0, 1e39, -2.5, 7.0]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, `x y` double")
    name = "x y"  # a name that needs quoting
    rows = (
        df.select(
            "i",
            _filled(F.col(f"`{name}`"), fill).alias("by_column"),
            F.expr(filled_sql(name, fill)).alias("by_sql"),
        )
        .select(
            "*",
            F.array(F.col("by_column").cast("float"), F.col("i").cast("float")).alias("v_column"),
            vector_sql(["by_sql", "i"]).alias("v_sql"),
        )
        .orderBy("i")
        .collect()
    )

    def bits(x, fmt):
        return None if x is None else struct.pack(fmt, x)

    assert len(rows) == len(values)
    for row in rows:
        assert bits(row.by_sql, "<d") == bits(row.by_column, "<d"), row
        assert [bits(x, "<f") for x in row.v_sql] == [bits(x, "<f") for x in row.v_column], row
