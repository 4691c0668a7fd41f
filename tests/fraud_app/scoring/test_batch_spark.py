"""Scoring refuses what it cannot score, through Spark (issue 8 item 9): the error raised in
the task comes back to the driver as the one-line fraud_app error."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.layers import Linear, ReLU, Sequential, Standardize
from dlcore.model import Model
from fraud_app.errors import ScoringInputError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import ScoringOptions, score_dataframe
from fraud_app.scoring.tasks import task_errors

pytestmark = pytest.mark.spark
D = 4
NAMES = ["amount_log1p", "hour_of_day", "card_count_24h", "is_cross_border"]


def _ensemble() -> FraudEnsemble:
    members = []
    for seed in (0, 1):
        m = Model(Sequential([Standardize(name="standardize"), Linear(4), ReLU(), Linear(1)]),
                  in_features=D, seed=seed)  # fmt: skip
        m.layer.layers[0].set_statistics(np.zeros(D), np.ones(D))
        members.append(m)
    return FraudEnsemble(members, NAMES, {"scoring": {"feature_means": [0.0] * D}})


def test_rows_of_wrong_length_fail_even_when_the_batch_total_matches(spark):
    # lengths 3 and 5 sum to 2 * 4: a batch-total check passes and shifts every feature
    rows = [([0.5] * (D - 1),), ([0.5] * (D + 1),)] + [([0.5] * D,)] * 50
    df = spark.createDataFrame(rows, "features array<float>").coalesce(1)
    with (
        pytest.raises(ScoringInputError, match=r"2 of 52 rows do not hold 4 .*\[3, 5\]"),
        task_errors(),
    ):
        score_dataframe(df, _ensemble()).collect()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_features_fail_by_default(spark, bad):
    df = spark.createDataFrame([([0.0, 0.0, bad, 0.0],), ([0.0] * D,)], "features array<float>")
    with (
        pytest.raises(
            ScoringInputError,
            match=r"1 of 2 rows have NaN or infinite features \['card_count_24h'\]",
        ),
        task_errors(),
    ):
        score_dataframe(df.coalesce(1), _ensemble()).collect()


def test_nonfinite_null_policy_scores_the_rest(spark):
    df = spark.createDataFrame(
        [(1, [0.0, float("nan"), 0.0, 0.0]), (2, [1.0, 2.0, 3.0, 4.0])],
        "id int, features array<float>",
    )
    opts = ScoringOptions(nonfinite="null", threshold=0.5, reasons=2)
    out = {r["id"]: r for r in score_dataframe(df, _ensemble(), options=opts).collect()}
    assert (
        out[1]["fraud_score"] is None and out[1]["invalid_features"] and out[1]["reason_1"] is None
    )
    ens = _ensemble()
    expected = ens.predict_proba(np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32))[0]
    assert out[2]["fraud_score"] == pytest.approx(expected, rel=1e-6)
    assert out[2]["invalid_features"] is False and out[2]["reason_1"] in NAMES


def test_executors_score_with_the_drivers_backend(spark):
    """A member the fused plan does not score (Spark ML's single-member logit, other layers)
    computes through the backend: each Python worker would otherwise time the backends
    itself and, on a loaded machine, could pick the other BLAS library than the driver."""
    from dlcore.backends import available_backends, get_ops, set_ops
    from fraud_app.scoring.batch import broadcast_ensemble, executor_ensemble

    if "mkl" not in available_backends():
        pytest.skip("needs two backends (MKL is not loadable here)")
    before = get_ops()
    try:
        for name in ("numpy", "mkl", "numpy"):
            set_ops(name)
            key, bc = broadcast_ensemble(spark, _ensemble())

            def probe(_, key=key, bc=bc):
                from dlcore.backends import get_ops

                model = executor_ensemble(key, bc)  # what the scoring UDFs call first
                yield {m.ops.name for m in model.members} | {get_ops().name}

            seen = spark.sparkContext.parallelize(range(4), 4).mapPartitions(probe).collect()
            assert seen == [{name}] * 4
            bc.destroy()
    finally:
        set_ops(before)


def _renamed(ensemble: FraudEnsemble, shift: float) -> FraudEnsemble:
    """The same weights, other standardisation statistics and other feature names."""
    for m in ensemble.members:
        m.layer.layers[0].set_statistics(np.full(D, shift), np.full(D, 2.0))
    return FraudEnsemble(ensemble.members, [f"x{j}" for j in range(D)], ensemble.metadata)


def test_a_worker_never_serves_a_changed_model_from_its_cache(spark):
    """Python workers outlive a job and keep the last ensemble they rebuilt: a model that
    differs only in its state (standardisation, encoding bins) or its feature names must
    be rebuilt, not served from that cache (the key once held the weights alone)."""
    df = spark.createDataFrame(
        [(i, [float(i % 5), 1.0, -2.0, 0.5 * i]) for i in range(40)],
        "id int, features array<float>",
    ).coalesce(1)
    X = np.array([r["features"] for r in df.orderBy("id").collect()], dtype=np.float32)
    opts = ScoringOptions(reasons=1)
    for ens in (_ensemble(), _renamed(_ensemble(), 3.0), _renamed(_ensemble(), -1.0)):
        rows = score_dataframe(df, ens, options=opts).orderBy("id").collect()
        np.testing.assert_array_equal([r["fraud_score"] for r in rows], ens.predict_proba(X))
        named = {r["reason_1"] for r in rows} - {None}  # null: no feature raised the score
        assert named and named <= set(ens.feature_names)
