"""MLlib baselines fitted at the same time: the same models as fitted one after the other."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_app.baselines.config import BaselinesSection
from fraud_app.baselines.spark import (
    _LABEL,
    _VEC,
    _assemble,
    _estimators,
    add_scores,
    train_baselines,
    training_sample,
)

pytestmark = pytest.mark.spark


def _train_df(spark, n=600, seed=0, bad_label=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.standard_normal(n) > 1.2).astype(float)
    if bad_label:
        y[:40] = 2.0  # GBTClassifier accepts labels 0 and 1 only
    rows = [(X[i].tolist(), float(y[i])) for i in range(n)]
    return spark.createDataFrame(rows, "features array<float>, label double").repartition(3)


def _cfg() -> BaselinesSection:
    return BaselinesSection.model_validate(
        {"normal_fraction": 0.5, "logreg": {"max_iter": 20}, "gbt": {"max_iter": 4, "max_depth": 3}}
    )


def test_fitted_together_equal_fitted_alone(spark):
    df, cfg = _train_df(spark), _cfg()
    together = train_baselines(df, cfg, features_col="features")
    assert [b.name for b in together] == ["logreg", "gbt"]
    # each estimator alone, on this thread, on the same sample
    data = _assemble(training_sample(df, cfg), "features", "label").select(_VEC, _LABEL)
    alone = [est.setFeaturesCol(_VEC).setLabelCol(_LABEL).fit(data) for est, _ in
             _estimators(cfg).values()]  # fmt: skip
    lr, lr_alone = together[0].model, alone[0]
    assert lr.coefficients.toArray().tolist() == lr_alone.coefficients.toArray().tolist()
    assert lr.intercept == lr_alone.intercept
    gbt, gbt_alone = together[1].model, alone[1]
    assert gbt.treeWeights == gbt_alone.treeWeights
    assert [t.toDebugString.split("\n", 1)[1] for t in gbt.trees] == [
        t.toDebugString.split("\n", 1)[1] for t in gbt_alone.trees
    ]  # first line: the tree's uid
    scored = add_scores(df, together, features_col="features").select(
        "baseline_logreg", "baseline_gbt"
    )
    got = np.array(scored.collect())
    assert got.shape == (600, 2) and np.all((got >= 0) & (got <= 1))
    assert all(b.rows == together[0].rows > 0 and b.seconds > 0 for b in together)


def test_a_failed_fit_on_another_thread_is_raised(spark):
    from pyspark.errors import PySparkException

    # logistic regression fits 3 classes (on this thread); the trees fail (their thread)
    with pytest.raises(PySparkException, match=r"Labels MUST be in \{0, 1\}"):
        train_baselines(_train_df(spark, bad_label=True), _cfg(), features_col="features")
