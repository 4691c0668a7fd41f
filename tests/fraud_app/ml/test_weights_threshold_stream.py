"""Inputs Spark's own classifiers refuse and ours trained or scored through: weights that
leave a class (or every row) at 0, a threshold outside [0, 1]; and transform on a streaming
DataFrame, which Spark ML models support (the width peek collected a row of the stream)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.errors import ConfigError, SchemaError
from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier
from tests.fraud_app.ml.conftest import FAST

pytestmark = pytest.mark.spark

_ZERO = {  # it returned the network's initial weights (or one class's fit) without a word
    "every row": (lambda: F.lit(0.0), "gives every one of the 300 training rows a weight of 0"),
    "the frauds": (
        lambda: F.when(F.col("label") == 1, 0.0).otherwise(1.0),
        r"gives all label 1 \(fraud\) rows of the 300 training rows a weight of 0",
    ),
    "the normals": (
        lambda: F.when(F.col("label") == 0, 0.0).otherwise(2.0),
        r"gives all label 0 \(normal\) rows of the 300 training rows a weight of 0",
    ),
}


@pytest.mark.parametrize("case", list(_ZERO))
def test_weights_that_leave_a_class_at_zero_are_refused(array_df, case):
    column, message = _ZERO[case]
    with pytest.raises(SchemaError, match="DlcoreClassifier.fit: weight column 'w' " + message):
        DlcoreClassifier(**FAST, weightCol="w").fit(array_df.withColumn("w", column()))


def test_bagging_refuses_zero_weights_too(array_df):
    with pytest.raises(SchemaError, match="BalancedBaggingClassifier.fit: weight column 'w' gives"):
        BalancedBaggingClassifier(**FAST, numSubsets=2, weightCol="w").fit(
            array_df.withColumn("w", F.lit(0.0))
        )


def test_some_zero_weights_still_train(array_df):
    df = array_df.withColumn("w", F.when(F.col("id") % 10 == 0, 0.0).otherwise(1.0))
    model = DlcoreClassifier(**FAST, weightCol="w").fit(df)
    assert np.isfinite(model.weights).all()


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_a_threshold_outside_the_unit_interval_is_refused(vector_df, fitted, threshold):
    # fit trained and transform predicted one class for every row (Spark: 'threshold ... [0, 1]')
    with pytest.raises(ConfigError, match=r"DlcoreClassifier: threshold must be in \[0, 1\]"):
        DlcoreClassifier(**FAST, threshold=threshold).fit(vector_df)
    with pytest.raises(ConfigError, match=r"DlcoreClassificationModel: threshold must be in"):
        fitted.copy({fitted.threshold: threshold}).transform(vector_df)
    for edge in (0.0, 1.0):
        assert fitted.copy({fitted.threshold: edge}).transform(vector_df).count() == 300


def test_transform_scores_a_streaming_dataframe(spark, fitted, array_df, tmp_path):
    source = tmp_path / "in"
    array_df.select("id", "features").write.parquet(str(source))
    stream = spark.readStream.schema("id long, features array<float>").parquet(str(source))
    query = (
        fitted.transform(stream)
        .select("id", "probability")
        .writeStream.format("memory")
        .queryName("dlcore_stream_scores")
        .trigger(availableNow=True)
        .start()
    )
    try:
        assert query.awaitTermination(120), "the streaming query did not finish within 120 s"
    finally:
        query.stop()
    streamed = spark.table("dlcore_stream_scores").orderBy("id").collect()
    batch = fitted.transform(array_df).orderBy("id").select("probability").collect()
    assert len(streamed) == 300
    np.testing.assert_allclose(
        [r.probability[1] for r in streamed], [r.probability[1] for r in batch], 1e-6, 1e-9
    )
