"""Spark's ProbabilisticClassificationModel scores one vector on the driver:
`model.predict(Vectors.dense(...))`, `predictRaw`, `predictProbability` (AttributeError on
our models before). The same values as the row of `transform`."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

from fraud_app.errors import ConfigError, SchemaError

pytestmark = pytest.mark.spark


def test_one_vector_scores_as_its_transform_row(fitted, vector_df):
    rows = fitted.transform(vector_df).orderBy("id").limit(5).collect()
    for row in rows:
        assert fitted.predict(row.features) == row.prediction
        np.testing.assert_allclose(
            fitted.predictProbability(row.features).toArray(), row.probability.toArray(), 1e-6
        )
        np.testing.assert_allclose(
            fitted.predictRaw(row.features).toArray(), row.rawPrediction.toArray(), 1e-5, 1e-6
        )
    sparse = Vectors.sparse(4, {0: 1.0})
    dense = Vectors.dense([1.0, 0.0, 0.0, 0.0])
    assert fitted.predictProbability(sparse) == fitted.predictProbability(dense)
    assert fitted.copy({fitted.threshold: 0.0}).predict(dense) == 1.0


def test_one_vector_of_another_width_or_with_nan_is_named(fitted):
    with pytest.raises(SchemaError, match=r"DlcoreClassificationModel.predict: expected one "
                       r"vector of 4 values .* Received shape \(3,\)"):  # fmt: skip
        fitted.predict(Vectors.dense([1.0, 2.0, 3.0]))
    with pytest.raises(SchemaError, match="predictProbability: the vector holds NaN"):
        fitted.predictProbability(Vectors.dense([1.0, float("nan"), 0.0, 0.0]))
    with pytest.raises(ConfigError, match=r"threshold must be in \[0, 1\]"):
        fitted.copy({fitted.threshold: 2.0}).predict(Vectors.dense([0.0] * 4))


def test_predict_numpy_names_nan_or_infinite_rows(fitted):
    # before: NaN probabilities for those rows, without a word
    X = np.zeros((5, 4), np.float32)
    X[3, 1] = np.nan
    X[4, 0] = np.inf
    with pytest.raises(
        SchemaError,
        match=r"DlcoreClassificationModel\.predict_numpy: 2 NaN or infinite value\(s\) in 2 "
        r"row\(s\) \(e\.g\. row 3\)",
    ):
        fitted.predict_numpy(X)
    assert np.isfinite(fitted.predict_numpy(X[:3])).all()
