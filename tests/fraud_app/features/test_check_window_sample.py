"""The feature check's pass also draws the input encoding's sample: the rows Spark's
seeded `sample` keeps (fraud_app.models.train.feature_sample, which it replaces in the
train step), in the same order, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.features.checks import check_window
from fraud_app.models.train import feature_sample, sample_fraction

pytestmark = pytest.mark.spark


def _window(spark, n: int = 6_000):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    rows = [(float(x[0]), [float(v) for v in x], int(i % 40 == 0), i) for i, x in enumerate(X)]
    df = spark.createDataFrame(rows, "a double, features array<float>, label int, day int")
    # several partitions, each rows in its own order, and a filter below the draw (the
    # train window is a date filter of the feature table)
    return df.repartition(4, "label").sortWithinPartitions("a").where(F.col("day") % 7 != 3)


@pytest.mark.parametrize(
    ("max_rows", "seed", "cached"), [(900, 0, True), (1_500, 42, False), (10**6, 5, True)]
)
def test_the_sample_of_the_check_pass_is_feature_samples_bit_for_bit(spark, max_rows, seed, cached):
    df = _window(spark)
    df = df.cache() if cached else df
    rows = df.count()
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "97")  # many batches per partition, as at 1M rows
    try:
        found = check_window(
            df, ["a"], vector_column="features", label_column="label", rows=rows,
            moments=True, sample=(sample_fraction(rows, max_rows), seed),
        )  # fmt: skip
    finally:
        spark.conf.set(key, before)
    expected = feature_sample(df, "features", "label", max_rows=max_rows, seed=seed, rows=rows)
    assert found.sample is not None and found.sample.dtype == np.float32
    assert found.sample.shape == expected.shape
    assert found.sample.tobytes() == expected.tobytes()
    if max_rows < rows:
        assert 0 < len(expected) < rows  # a draw, not every row
    else:
        assert len(expected) == rows
    df.unpersist()


def test_no_sample_unless_asked_or_without_the_vector(spark):
    df = _window(spark, 300)
    assert check_window(df, ["a"], vector_column="features").sample is None
    no_vector = df.drop("features")
    assert check_window(no_vector, ["a"], vector_column="features", sample=(0.5, 1)).sample is None
