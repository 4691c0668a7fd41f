"""weightCol reaches the standardisation, as in Spark's own classifiers: the networks'
Standardize layers hold the WEIGHTED feature moments. They held the unweighted ones, so
rows of weight 0 (outliers an analyst weighs out, as Spark's LogisticRegression allows:
its model is then the one fitted without those rows) scaled the other rows' features to
near 0: AP 0.28 where leaving the rows out gave 0.93 (docs/PROBES.md, session 38)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
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


def _first_linear_weights(network) -> np.ndarray:
    from dlcore.layers.linear import Linear

    first = next(layer for layer in network.layer.layers if isinstance(layer, Linear))
    return np.asarray(first.W, np.float64)


def test_rows_of_weight_0_do_not_set_the_encoding_bins(array_df):
    """The piecewise_linear bins are quantiles of the rows that count: the 30 outliers x1000
    at weight 0 set the upper bins (on the base: edges ~100x apart from the fit without
    those rows), as they set the moments before session 38."""
    df = _weighted(array_df)
    params = {**QUICK, "weightCol": "w", "inputEncoding": "piecewise_linear", "encodingBins": 4}
    with_zeros = DlcoreClassifier(**params).fit(df)
    without = DlcoreClassifier(**params).fit(df.where(F.col("w") > 0))
    got = with_zeros.network.layer.layers[1].state()
    want = without.network.layer.layers[1].state()
    for key in ("lower", "inv_width"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-5)


def test_a_feature_that_varies_only_in_rows_of_weight_0_is_held_constant(array_df):
    """Feature c is 1.0 in every row that counts and random in the rows weighed out: the
    model treats it as the constant it is in the data it fitted (first-layer weights folded
    into the bias), so c moves no score; on the base it varied and kept untrained weights."""
    w = F.when(F.col("id") < 30, 0.0).otherwise(1.0)
    noisy = F.array(
        F.col("features")[0], F.col("features")[1], F.rand(3) * 100, F.col("features")[3]
    )
    flat = F.array(F.col("features")[0], F.col("features")[1], F.lit(1.0), F.col("features")[3])
    df = array_df.withColumn("w", w).withColumn(
        "features", F.when(F.col("w") > 0, flat).otherwise(noisy).cast("array<float>")
    )
    model = DlcoreClassifier(**{**QUICK, "weightCol": "w"}).fit(df)
    W = _first_linear_weights(model.network)
    assert np.all(W[2] == 0.0), W[2]
    assert np.any(W[0] != 0.0)


def _with_validation(array_df, weight):
    """ids 200-299 are validation rows; ids from 250 get their label flipped and `weight`."""
    poison = F.col("id") >= 250
    flipped = F.when(poison, 1.0 - F.col("label")).otherwise(F.col("label"))
    return poison, (
        array_df.withColumn("val", F.col("id") >= 200)
        .withColumn("label", flipped)
        .withColumn("w", F.when(poison, weight).otherwise(1.0))
    )


def test_validation_rows_of_weight_0_do_not_count_in_early_stopping(array_df):
    """Early stopping's validation AP ignored weightCol: rows weighed out (here with flipped
    labels) ranked in the AP that chose the iterations and the best weights, and in the
    model's validation_ap (Spark's GBT weighs its validation rows). Weighted, the fit is the
    fit without those rows."""
    poison, df = _with_validation(array_df, 0.0)
    params = {**QUICK, "epochs": 4.0, "weightCol": "w", "validationIndicatorCol": "val"}
    weighted = DlcoreClassifier(**params).fit(df)
    without = DlcoreClassifier(**params).fit(df.where(~poison))

    def aps(model):
        return [r["average_precision"] for r in model.history[0]["validation"]]

    assert aps(weighted) and aps(weighted) == pytest.approx(aps(without), abs=1e-12)
    np.testing.assert_array_equal(weighted.weights, without.weights)


def test_a_negative_weight_among_the_validation_rows_is_named(array_df):
    # only the training rows' weights were checked (the validation rows' were not read)
    _, df = _with_validation(array_df, -1.0)
    params = {**QUICK, "weightCol": "w", "validationIndicatorCol": "val"}
    with pytest.raises(SchemaError, match=r"weightCol 'w' must hold finite weights >= 0; 50 of "
                       r"the 100 validation rows do not .*e\.g\. -1\.0"):  # fmt: skip
        DlcoreClassifier(**params).fit(df)
