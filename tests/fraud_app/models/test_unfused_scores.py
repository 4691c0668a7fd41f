"""Ensembles the fused plan does not take (batch-norm or embedding members) score a row
to the same bits in any batch: a served request of one row, a pyfunc frame and a Spark
Arrow batch agree."""

from __future__ import annotations

import numpy as np

from fraud_app.models.ensemble import FraudEnsemble
from tests.dlcore.test_blocked_inference import D, batchnorm_mlp, embedding_mlp, rows


def _ensemble(make) -> FraudEnsemble:
    return FraudEnsemble([make(k) for k in range(3)], [f"f{i}" for i in range(D)], {})


def test_a_row_alone_scores_the_bits_of_its_batch():
    for make, kind in ((batchnorm_mlp, "batchnorm"), (embedding_mlp, "embedding")):
        ensemble = _ensemble(make)
        assert ensemble.fused() is None  # the member-by-member path
        X = rows(kind, 1200).astype(np.float32)
        whole = ensemble.predict_proba(X)
        alone = np.array([ensemble.predict_proba(X[i : i + 1])[0] for i in range(300)])
        np.testing.assert_array_equal(alone, whole[:300])
        np.testing.assert_array_equal(ensemble.predict_proba(X[517:1100]), whole[517:1100])
        p, attr = ensemble.proba_and_attribution(X[:40], np.zeros(D))
        np.testing.assert_array_equal(p, whole[:40])
        assert attr.shape == (40, D) and np.isfinite(attr).all()


def test_ids_get_no_attribution_and_numeric_features_theirs():
    """An embedding member's attribution (the scoring job's reasons) failed with a
    TypeError (the embedding gave no input gradient); the ids now get 0, the numeric
    columns their gradient times their distance from the baseline."""
    ensemble = _ensemble(embedding_mlp)
    X = rows("embedding", 60).astype(np.float32)
    p, attr = ensemble.proba_and_attribution(X, np.zeros(D))
    np.testing.assert_array_equal(p, ensemble.predict_proba(X))
    assert (attr[:, [0, 3]] == 0).all()  # the id columns of embedding_mlp
    assert (np.abs(attr[:, [1, 2, 4, 5]]) > 0).mean() > 0.9
    # the numeric columns against a finite difference of the mean probability
    eps, j = 1e-4, 2
    Xp, Xm = X.astype(np.float64), X.astype(np.float64)
    Xp[:, j] += eps
    Xm[:, j] -= eps
    grad = (ensemble.predict_proba(Xp) - ensemble.predict_proba(Xm)) / (2 * eps)
    np.testing.assert_allclose(attr[:, j], grad * X[:, j], rtol=2e-2, atol=1e-6)
