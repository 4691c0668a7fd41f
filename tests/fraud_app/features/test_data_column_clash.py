"""A data column named like a window feature or an encoding (a notebook's DataFrame that
carries `card_count_1d` from an earlier computation) is refused before Spark plans
anything, naming the column: the compiler added its own column of that name, and the plan
stopped on `[AMBIGUOUS_REFERENCE]` after a JVM stack trace logged at ERROR."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from fraud_app.errors import FeatureSpecError
from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet, parse_spec
from tests.fraud_app.features.canonical_data import frame, tricky_rows

pytestmark = pytest.mark.spark

SPEC = """
version: 1
features:
  - {kind: window_agg, entity: card, aggregations: [count], windows: [1d]}
  - {kind: frequency_encoding, column: merchant_id}
  - {kind: column, column: amount}
"""


def _features() -> FeatureSet:
    parsed = parse_spec(SPEC, source="test")
    return FeatureSet(
        features=tuple(s.feature for s in parsed),
        label_delay_s=86_400,
        sources=tuple(s.source for s in parsed),
    )


@pytest.mark.parametrize(
    ("column", "named"),
    [
        ("card_count_1d", "'card_count_1d'"),
        ("Card_Count_1d", "'Card_Count_1d' (feature 'card_count_1d')"),  # Spark ignores case
        ("merchant_id_freq", "'merchant_id_freq'"),
    ],
)
def test_a_column_named_like_a_window_feature_or_encoding_is_refused(spark, column, named):
    fs = _features()
    assert {"card_count_1d", "merchant_id_freq"} <= set(fs.names), fs.names
    df = frame(spark, tricky_rows(n=12, seed=3, days=3)).withColumn(column, F.lit(7.0))
    with pytest.raises(FeatureSpecError) as err:
        compute_features(df, fs, skip_all_null=False)
    text = str(err.value)
    assert f"input column(s) {named} have the name of a feature" in text
    assert "Rename or drop the data's column" in text


def test_a_column_feature_of_its_own_name_and_other_columns_are_fine(spark):
    fs = _features()
    base = frame(spark, tricky_rows(n=12, seed=3, days=3))
    # `column: amount` is named amount (it is the data's column); an unrelated extra
    # column is dropped from the feature table as before
    df = base.withColumn("card_count_7d", F.lit(1.0))
    fs = FeatureSet(features=fs.features[:3], label_delay_s=fs.label_delay_s)
    result = compute_features(df, fs, skip_all_null=False)
    assert "amount" in result.feature_names
    out = result.df.select("amount", "card_count_1d").collect()
    assert len(out) == base.count()
