"""Feature values beyond the float32 range (session 34, helper probe34a).

The feature table holds each feature as a double and the vector the model reads as
float32. Amounts of 1e39 (an `etl.bounds.max_amount` raised far above its default 1e10)
are finite doubles and +inf in the vector: `train` ended in `Standardize 'standardize':
mean/std must be finite` after the balancing, naming neither a feature nor the cause. The
training window's statistics now refuse it, naming the features and what to do.
"""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.errors import SchemaError
from fraud_app.features.checks import check_window
from fraud_app.features.compile import compute_features
from fraud_app.features.row_kinds import ColumnValue
from fraud_app.features.spec import FeatureSet
from fraud_app.features.window_kinds import WindowAggregate
from fraud_app.models.train import feature_statistics
from tests.fraud_app.features.canonical_data import SCHEMA

pytestmark = pytest.mark.spark
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _table(spark, big: float):
    rows = [
        (f"t{c}{d}", f"c{c}", "m0", T0 + dt.timedelta(days=d, hours=c), x, d % 2, None, "5411",
         "POS", "FR", "FR", None)
        for c, x in enumerate([12.5, big])
        for d in range(6)
    ]  # fmt: skip
    fs = FeatureSet(
        features=(
            WindowAggregate(entity="card", aggregation="count", window="7d"),
            WindowAggregate(entity="card", aggregation="sum", window="7d"),
            ColumnValue(column="amount", transform="signed_log1p"),
        ),
        label_delay_s=86_400,
    )
    result = compute_features(spark.createDataFrame(rows, SCHEMA), fs)
    return result.df, list(result.feature_names)


def test_a_feature_beyond_float32_is_refused_naming_it(spark):
    df, names = _table(spark, 1e39)
    expected = (
        r"1 feature\(s\) of the training window hold values beyond the float32 range "
        r"\(\+-3\.4e\+38\) of the feature vector the model reads, where they are infinite: "
        r"card_amount_sum_7d \(largest \|value\| 5e\+39\)\. Expected finite float32 features: "
        r".*lower etl\.bounds\.max_amount"
    )
    with pytest.raises(SchemaError, match=expected):
        check_window(df, names, vector_column="features", label_column="label", moments=True)
    with pytest.raises(SchemaError, match=r"where they are infinite: card_amount_sum_7d\. "):
        feature_statistics(df, "features", names)


def test_large_finite_features_pass(spark):
    df, names = _table(spark, 1e30)  # sums 5e30: finite in float32
    found = check_window(df, names, vector_column="features", label_column="label", moments=True)
    assert found.moments is not None
    mean, std = feature_statistics(df, "features", names)
    assert mean[1] == pytest.approx(found.moments[0][1]) and std[1] > 0
