"""Tiny data sets for the Spark ML estimator tests (a few hundred rows, 4 features)."""

from __future__ import annotations

import numpy as np
import pytest

D = 4
FAST = dict(hiddenLayers=[8], dropout=0.0, epochs=4.0, batchSize=32, learningRate=0.05, groupSize=8)


def make_rows(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(n) > 1.0).astype(float)
    return [(i, *map(float, X[i]), float(y[i])) for i in range(n)]


@pytest.fixture(scope="session")
def raw_df(spark):
    schema = "id long, a double, b double, c double, d double, label double"
    return spark.createDataFrame(make_rows(), schema).repartition(2).cache()


@pytest.fixture(scope="session")
def vector_df(raw_df):
    from pyspark.ml.feature import VectorAssembler

    return VectorAssembler(inputCols=list("abcd"), outputCol="features").transform(raw_df)


@pytest.fixture(scope="session")
def array_df(raw_df):
    from pyspark.sql import functions as F

    return raw_df.withColumn("features", F.array(*[F.col(c).cast("float") for c in "abcd"]))


@pytest.fixture(scope="session")
def fitted(vector_df):
    from fraud_app.ml import DlcoreClassifier

    return DlcoreClassifier(**FAST).fit(vector_df)
