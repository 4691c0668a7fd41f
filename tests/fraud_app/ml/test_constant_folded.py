"""The Spark ML estimators fold a feature that held one value in every training row, as the
product's training does: they train through `train_ensemble` (one way to train; session 36
review: the analyst's notes said these estimators were not folded). A value it takes when
scored moves no probability."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from dlcore.layers.linear import Linear
from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier
from tests.fraud_app.ml.conftest import FAST

pytestmark = pytest.mark.spark


@pytest.mark.parametrize("estimator", [DlcoreClassifier, BalancedBaggingClassifier])
def test_a_feature_constant_in_training_does_not_move_the_probability(raw_df, estimator):
    df = raw_df.withColumn(
        "features", F.array(*[F.col(c).cast("float") for c in "abc"], F.lit(7.0).cast("float"))
    )
    model = estimator(**FAST).fit(df)
    for member in model.ensemble.members:
        first = next(la for la in member.layer.layers if type(la) is Linear)
        assert not first.W[3].any()  # its first-layer weights folded into the bias
    X = np.random.default_rng(1).standard_normal((50, 4)).astype(np.float32)
    X[:, 3] = 7.0
    varied = X.copy()
    varied[:, 3] = [0.0, 1.0, 100.0, -7.0, 7.5] * 10
    np.testing.assert_array_equal(model.predict_numpy(varied), model.predict_numpy(X))
