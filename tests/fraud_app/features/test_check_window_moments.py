"""The feature check's pass also sums the vector's moments: the same bits as the
trainer's own pass (fraud_app.models.train.feature_statistics), which it replaces in the
train step, and the same check lists as constant_features."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_app.features.checks import check_window, constant_features
from fraud_app.models.train import feature_statistics

pytestmark = pytest.mark.spark


@pytest.fixture
def small_batches(spark):
    """Arrow batches of 97 rows: many partial sums per partition, as at 1M rows."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "97")
    yield spark
    spark.conf.set(key, before)


def _window(spark, n: int = 5_000):
    rng = np.random.default_rng(7)
    X = rng.lognormal(3.0, 2.0, size=(n, 4)).astype(np.float32)  # wide range: rounding shows
    X[: n // 2, 3] = 0.0  # near-constant half
    rows = [
        (float(a), float(b), float(c), float(d), [float(v) for v in x], int(i % 50 == 0))
        for i, (x, (a, b, c, d)) in enumerate(zip(X, X.astype(np.float64), strict=True))
    ]
    df = spark.createDataFrame(rows, "a double, b double, c double, d double, "
                               "features array<float>, label int")  # fmt: skip
    return df.repartition(3, "label").sortWithinPartitions("a")


def test_the_moments_of_the_check_pass_are_the_trainers_bit_for_bit(small_batches):
    df = _window(small_batches)
    names = ["a", "b", "c", "d"]
    found = check_window(
        df, names, vector_column="features", label_column="label", moments=True, sample_rows=1_000
    )
    mean, std = feature_statistics(df, "features")
    assert found.moments is not None
    assert found.moments[0].tobytes() == mean.tobytes()
    assert found.moments[1].tobytes() == std.tobytes()
    assert found.checks == constant_features(
        df, names, vector_column="features", label_column="label", sample_rows=1_000
    )


def test_no_moments_unless_asked_or_without_the_vector(spark):
    df = _window(spark, 300)
    assert check_window(df, ["a"], vector_column="features").moments is None
    no_vector = df.drop("features")
    assert check_window(no_vector, ["a"], vector_column="features", moments=True).moments is None
    assert check_window(df, [], vector_column="features", moments=True).moments is None
