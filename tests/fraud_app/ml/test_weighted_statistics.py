"""weightCol reaches the standardisation, as in Spark's own classifiers: the networks'
Standardize layers hold the WEIGHTED feature moments. They held the unweighted ones, so
rows of weight 0 (outliers an analyst weighs out, as Spark's LogisticRegression allows:
its model is then the one fitted without those rows) scaled the other rows' features to
near 0: AP 0.28 where leaving the rows out gave 0.93 (docs/PROBES.md, session 38)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier
from tests.fraud_app.ml.conftest import FAST

pytestmark = pytest.mark.spark

QUICK = {**FAST, "epochs": 1.0, "numWorkers": 1}


def _weighted(array_df):
    """30 rows scaled x1000 with weight 0, the others weights 0.5 / 2 by id."""
    outlier = F.col("id") < 30
    scaled = F.transform("features", lambda x: x * F.lit(1000.0))
    weight = F.when(outlier, 0.0).when(F.col("id") % 2 == 0, 0.5).otherwise(2.0)
    df = array_df.withColumn("features", F.when(outlier, scaled).otherwise(F.col("features")))
    return df.withColumn("w", weight)


def _expected(df):
    rows = df.select("features", "w").collect()
    X = np.array([r.features for r in rows], np.float64)
    w = np.array([r.w for r in rows])
    mean = np.average(X, axis=0, weights=w)
    return mean, np.sqrt(np.average((X - mean) ** 2, axis=0, weights=w))


def _statistics(network):
    layer = network.layer.layers[0]
    return np.asarray(layer.mean, np.float64), np.asarray(layer.scale, np.float64)


@pytest.mark.parametrize("estimator", [DlcoreClassifier, BalancedBaggingClassifier])
def test_the_standardisation_uses_the_weighted_moments(array_df, estimator):
    df = _weighted(array_df)
    params = {**QUICK, "weightCol": "w"}
    if estimator is BalancedBaggingClassifier:
        params["numSubsets"] = 2
    model = estimator(**params).fit(df)
    mean, std = _expected(df)  # a member of the bagging: the whole data's, as fraud-app train
    for network in model.ensemble.members:
        got_mean, got_std = _statistics(network)
        np.testing.assert_allclose(got_mean, mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got_std, std, rtol=1e-4)


def test_without_a_weight_column_the_moments_stay_unweighted(fitted, vector_df):
    rows = vector_df.select("a", "b", "c", "d").collect()
    X = np.array([tuple(r) for r in rows], np.float32).astype(np.float64)
    got_mean, got_std = _statistics(fitted.network)
    np.testing.assert_allclose(got_mean, X.mean(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got_std, X.std(0), rtol=1e-4)
