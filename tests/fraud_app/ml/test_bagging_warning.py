"""BalancedBaggingClassifier's subsets warn, as fraud-app train's do, when each would hold
more frauds than normals; the advice names the estimator's params. It told the analyst to
set balancing.unionpay_subsets.n_subsets or balancing.strategy, keys of a config file a
notebook does not have (docs/PROBES.md, session 38)."""

from __future__ import annotations

import pytest

from fraud_app.ml import BalancedBaggingClassifier

pytestmark = pytest.mark.spark


@pytest.mark.parametrize(
    "frauds, advice",
    [
        (40, "set numSubsets to at most 4 (normals // frauds), or use DlcoreClassifier, "),
        (200, "the data holds more frauds than normals: use DlcoreClassifier, whose posWeight"),
    ],
)
def test_the_fraud_majority_warning_names_the_estimator_s_params(spark, caplog, frauds, advice):
    rows = [([float(i)], 1.0) for i in range(frauds)] + [([-i - 1.0], 0.0) for i in range(160)]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    with caplog.at_level("WARNING", logger="fraud_app.balancing.unionpay"):
        BalancedBaggingClassifier(numSubsets=5)._subsets(df, None)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and f"holds all {frauds} frauds" in warned[0], warned
    assert advice in warned[0] and "balancing." not in warned[0], warned[0]


def test_the_advice_names_normal_ratio_when_it_caps_the_subsets(spark, caplog):
    # 10 frauds, 160 normals, 2 subsets: the shares hold ~80 normals each, but normalRatio
    # 0.05 keeps ceil(0.05 x 10) = 1 of them; lowering numSubsets changed nothing
    rows = [([float(i)], 1.0) for i in range(10)] + [([-i - 1.0], 0.0) for i in range(160)]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    with caplog.at_level("WARNING", logger="fraud_app.balancing.unionpay"):
        BalancedBaggingClassifier(numSubsets=2, normalRatio=0.05)._subsets(df, None)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1, warned
    assert (
        "raise normalRatio to at least 1 (0.05 keeps ceil(normalRatio x frauds) = 1 normal(s) "
        "per subset), or use DlcoreClassifier" in warned[0]
    ), warned[0]
    assert "numSubsets" not in warned[0] and "balancing." not in warned[0], warned[0]
