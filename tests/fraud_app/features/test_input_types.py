"""A feature that computes with a column's numbers, given a text column (session 21 probe):
`mean` of `mcc` averaged the category codes as numbers, `column: channel` cast every value
to null and wrote the fill (a constant feature) without a word, `sum` of `merchant_id` and
`amount_zscore` of it stopped with a JVM traceback. Now one line naming the feature, the
column, its type and what to use instead, before any Spark job."""

from __future__ import annotations

import pytest

from fraud_app.errors import FeatureSpecError
from fraud_app.features.compile import compute_features
from fraud_app.features.row_kinds import ColumnValue, OneHot
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import (
    AmountRatio,
    AmountZScore,
    VelocityRatio,
    WindowAggregate,
)
from tests.fraud_app.features.canonical_data import SCHEMA, tricky_rows

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def canonical(spark):
    return spark.createDataFrame(tricky_rows(40), SCHEMA)


@pytest.mark.parametrize(
    ("feature", "match"),
    [
        (WindowAggregate(aggregation="mean", column="mcc", window="7d"),
         r"feature 'card_mcc_mean_7d' \(window_agg, aggregation mean\) computes with the "
         r"numbers of column 'mcc', which holds string values; expected a numeric column"),
        (WindowAggregate(aggregation="sum", column="merchant_id", window="7d"),
         r"'card_merchant_id_sum_7d'.*'merchant_id', which holds string.*count_distinct"),
        (ColumnValue(column="channel"), r"feature 'channel' \(column\).*'channel', which holds string.*one_hot"),
        (ColumnValue(column="mcc", transform="log1p"), r"'mcc_log1p'.*frequency_encoding"),
        (AmountZScore(column="merchant_id"), r"'card_merchant_id_zscore_30d' \(amount_zscore\)"),
        (AmountRatio(column="country"), r"'card_country_to_mean_30d' \(amount_ratio\)"),
        (VelocityRatio(aggregation="sum", column="device_id"), r"'device_id', which holds string"),
    ],
)  # fmt: skip
def test_a_number_feature_of_a_text_column_is_refused(canonical, feature, match) -> None:
    fs = FeatureSet(features=(WindowAggregate(aggregation="count", window="1h"), feature),
                    label_delay_s=86_400)  # fmt: skip
    with pytest.raises(FeatureSpecError, match=match):
        compute_features(canonical, fs, vector_column=None)


def test_text_columns_in_features_made_for_them_still_compute(canonical) -> None:
    features = (
        WindowAggregate(aggregation="count_distinct", column="merchant_id", window="7d"),
        WindowAggregate(aggregation="count", window="7d"),
        VelocityRatio(aggregation="count"),
        OneHot(column="channel", value="POS"),
        ColumnValue(column="amount", transform="log1p"),
    )
    result = compute_features(canonical, FeatureSet(features=features, label_delay_s=86_400),
                              vector_column=None)  # fmt: skip
    rows = result.df.select(*result.feature_names).collect()
    assert len(rows) == 40 and result.feature_names == tuple(f.name for f in features)
    assert max(r["channel_is_POS"] for r in rows) == 1.0


def test_an_integer_or_decimal_column_is_a_number(spark) -> None:
    df = spark.createDataFrame(tricky_rows(20), SCHEMA)
    df = df.withColumn("amount", df["amount"].cast("decimal(12,2)"))
    df = df.withColumn("mcc", df["mcc"].cast("int"))
    features = (
        ColumnValue(column="amount"),
        WindowAggregate(aggregation="max", column="mcc", window="7d"),
    )
    result = compute_features(
        df, FeatureSet(features=features, label_delay_s=86_400), vector_column=None
    )
    assert result.feature_names == ("amount", "card_mcc_max_7d")
    assert result.df.count() == 20


@pytest.mark.parametrize(
    "name", ["label", "timestamp", "card_id", "event_date", "_ts", "LABEL", "Event_Date"]
)
def test_a_vector_column_named_like_a_table_column_is_refused(canonical, name) -> None:
    # it stopped with Spark's AnalysisException `Reference 'label' is ambiguous`; `LABEL`
    # (review47a) was computed and stopped the write on COLUMN_ALREADY_EXISTS
    fs = FeatureSet(features=(WindowAggregate(aggregation="count", window="1h"),), label_delay_s=60)
    with pytest.raises(
        FeatureSpecError, match=rf"vector column {name!r} is a column of the feature table"
    ):
        compute_features(canonical, fs, vector_column=name)


def test_a_feature_named_like_the_vector_column_ignoring_case_is_refused(canonical) -> None:
    # review47a: vector column `Card_Count_1h` beside the feature card_count_1h was computed
    # and the write stopped on COLUMN_ALREADY_EXISTS (Spark reads names ignoring case)
    fs = FeatureSet(features=(WindowAggregate(aggregation="count", window="1h"),), label_delay_s=60)
    with pytest.raises(
        FeatureSpecError, match=r"feature name\(s\) \['card_count_1h'\] clash with columns"
    ):
        compute_features(canonical, fs, vector_column="Card_Count_1h")


@pytest.mark.parametrize(
    "name", ["label", "timestamp", "amount", "mcc", "event_date", "LABEL", "Amount", "Event_Date"]
)
def test_the_config_refuses_such_a_vector_column_before_spark(name) -> None:
    from fraud_app.config import load_config
    from fraud_app.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"features\.vector_column: .*{name!r} is a column of"):
        load_config(None, {"features.vector_column": name})
