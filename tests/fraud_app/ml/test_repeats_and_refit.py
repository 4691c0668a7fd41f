"""numRepeats (seed averaging inside BalancedBaggingClassifier) and refit (train again on
training + validation rows for the early-stopped iteration counts), on a real local[2] Spark."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.sql import functions as F

from dlcore.metrics import average_precision
from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier
from tests.fraud_app.ml.conftest import FAST

pytestmark = [pytest.mark.spark, pytest.mark.slow]
RTOL, ATOL = 1e-5, 1e-6  # BLAS backends may differ between Python workers (test_estimators)
BAG = dict(FAST, numSubsets=2, normalRatio=2.0)


def _probs(df):
    return np.array([r.probability[1] for r in df.orderBy("id").select("probability").collect()])


def test_num_repeats_is_the_mean_of_ensembles_with_consecutive_seeds(vector_df):
    """numRepeats=2, seed 3 = the members of seed 3's ensemble then seed 4's, averaged."""
    both = BalancedBaggingClassifier(**BAG, numRepeats=2, seed=3).fit(vector_df)
    alone = [BalancedBaggingClassifier(**BAG, seed=s).fit(vector_df) for s in (3, 4)]
    members = [m.weights for m in both.members]
    expected = [m.weights for fit in alone for m in fit.members]
    assert len(members) == 4 and len(both.history) == 4
    for got, want in zip(members, expected, strict=True):
        np.testing.assert_allclose(got, want, RTOL, ATOL)
    mean = np.mean([_probs(fit.transform(vector_df)) for fit in alone], axis=0)
    np.testing.assert_allclose(_probs(both.transform(vector_df)), mean, RTOL, ATOL)


def test_num_repeats_below_one_is_refused(vector_df):
    with pytest.raises(Exception, match="numRepeats=0"):
        BalancedBaggingClassifier(**BAG, numRepeats=0).fit(vector_df)


@pytest.fixture(scope="module")
def with_val(vector_df):
    return vector_df.withColumn("is_val", F.col("id") % 4 == 0)


def test_refit_trains_on_all_rows_for_the_chosen_iterations(with_val):
    params = dict(FAST, validationIndicatorCol="is_val", earlyStoppingPatience=2, seed=1)
    plain = DlcoreClassifier(**params).fit(with_val)
    refit = DlcoreClassifier(**params, refit=True, refitMethod="fresh").fit(with_val)
    val = with_val.where("is_val")
    labels = np.array([r.label for r in val.orderBy("id").select("label").collect()])
    # validation_ap: the ensemble before the refit, i.e. exactly the plain fit's
    assert plain.validation_ap is None
    assert refit.validation_ap == pytest.approx(
        average_precision(labels, _probs(plain.transform(val))), abs=1e-6
    )
    entry, before = refit.history[0], plain.history[0]
    assert entry["best_iteration"] == before["best_iteration"] is not None
    assert entry["refit_iterations"] == before["best_iteration"]
    assert entry["rows"] == with_val.where("NOT is_val").count() and entry["refit_rows"] == 300
    assert not np.allclose(refit.weights, plain.weights)


def test_refit_of_bagging_refits_every_member(with_val):
    model = BalancedBaggingClassifier(
        **BAG, numRepeats=2, validationIndicatorCol="is_val", earlyStoppingPatience=2, refit=True,
        refitMethod="fresh",
    ).fit(with_val)  # fmt: skip
    assert len(model.members) == 4 and 0 < model.validation_ap <= 1
    for entry in model.history:
        assert entry["refit_iterations"] == entry["best_iteration"]
        assert entry["refit_rows"] > entry["rows"]  # the subset now holds validation rows too


def test_warm_start_refit_continues_every_member_for_its_passes(with_val):
    """The default refit (warm_start): each member continues from its early-stopped weights
    for refitPasses passes over its training + validation subset, the same code path as
    fraud-app train (fraud_app.models.train.WarmStart)."""
    params = dict(BAG, validationIndicatorCol="is_val", earlyStoppingPatience=2, seed=1)
    plain = BalancedBaggingClassifier(**params).fit(with_val)
    warm = BalancedBaggingClassifier(**params, refit=True, refitPasses=1.5).fit(with_val)
    assert warm.getRefitMethod() == "warm_start"
    assert warm.validation_ap == pytest.approx(plain_ap(plain, with_val), abs=1e-6)
    for entry in warm.history:
        assert entry["refit_rows"] > entry["rows"]
        assert entry["refit_iterations"] == math.ceil(1.5 * entry["refit_rows"] / 32)
    again = BalancedBaggingClassifier(**params, refit=True, refitPasses=1.5).fit(with_val)
    for a, b in zip(warm.members, again.members, strict=True):
        np.testing.assert_allclose(a.weights, b.weights, RTOL, ATOL)


def plain_ap(model, df) -> float:
    val = df.where("is_val")
    labels = np.array([r.label for r in val.orderBy("id").select("label").collect()])
    return average_precision(labels, _probs(model.transform(val)))
