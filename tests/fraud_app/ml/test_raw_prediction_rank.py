"""rawPrediction ranks the rows as probability does (a BinaryClassificationEvaluator reads
rawPrediction by default). A bagging model's rawPrediction was the logit of its mean
probability clipped to [1e-15, 1 - 1e-15]: every row above 1 - 1e-15 got one value, so
rows that probability told apart tied (506 tied values for 377 tied probabilities in 600
rows of large features, docs/PROBES.md session 38). No Spark: the scorer's own function."""

from __future__ import annotations

import numpy as np

from fraud_app.ml.model import probabilities_and_logits
from fraud_app.models.builders import build_model
from fraud_app.models.config import ModelSection
from fraud_app.models.ensemble import FraudEnsemble


def _ensemble(members: int) -> FraudEnsemble:
    """Members that nearly agree, with large weights: logits of +-40 and beyond, as a
    confident model's on outlying rows."""
    cfg = ModelSection(hidden=(8,), dropout=0.0)
    rng = np.random.default_rng(1)
    networks = []
    for _ in range(members):
        network = build_model(cfg, 4, 0)
        data = network.params.data
        data[...] = 12.0 * data * (1 + 0.01 * rng.standard_normal(data.shape))
        networks.append(network)
    return FraudEnsemble(networks, list("abcd"), {})


def _rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    scale = np.geomspace(0.01, 10, 2000)[:, None]
    return (rng.standard_normal((2000, 4)) * scale).astype(np.float32)


def test_an_ensemble_s_raw_prediction_ranks_as_its_probability():
    ensemble, X = _ensemble(3), _rows()
    p, z = probabilities_and_logits(ensemble, X)
    np.testing.assert_array_equal(p, ensemble.predict_proba(X))  # the same probabilities
    # saturated rows, the case the clip merged
    assert (p > 1 - 1e-15).sum() > 10 and (p < 1e-15).sum() > 10
    order = np.lexsort((z, p))
    p_sorted, z_sorted = p[order], z[order]
    rises = np.diff(p_sorted) > 0
    assert (np.diff(z_sorted)[rises] > 0).all(), "a higher probability got a lower or equal raw"
    assert len(np.unique(z)) >= len(np.unique(p))
    middle = (p > 1e-6) & (p < 1 - 1e-6)  # where the logit of p is exact enough to compare
    np.testing.assert_allclose(z[middle], np.log(p[middle] / (1 - p[middle])), rtol=1e-6, atol=1e-9)


def test_one_member_keeps_its_own_logit():
    # as the ensemble computes it (its fused plan, whose probability fraud-app score gives),
    # not through the log-space mean; the network's own predict agrees to float32 rounding
    ensemble, X = _ensemble(1), _rows()[:50]
    p, z = probabilities_and_logits(ensemble, X)
    np.testing.assert_array_equal(z, ensemble.member_logits(X)[:, 0])
    np.testing.assert_array_equal(p, ensemble.predict_proba(X))
    own = ensemble.members[0].predict(X).reshape(-1)
    np.testing.assert_allclose(z, own, rtol=1e-5, atol=1e-5)


def _saturated(members: int, bias: float) -> FraudEnsemble:
    """Members whose logit is `bias` for every row (weights 0, output bias last)."""
    networks = []
    for _ in range(members):
        network = build_model(ModelSection(hidden=(8,), dropout=0.0), 4, 0)
        network.params.data[...] = 0.0
        network.params.data[-1] = bias
        networks.append(network)
    return FraudEnsemble(networks, list("abcd"), {})


def test_members_with_infinite_logits_give_an_infinite_raw_prediction_not_nan():
    """Review 38: float32 logits that overflow to +-inf in every member (an outlying row)
    gave rawPrediction NaN (-inf - -inf in the log-sum-exp) where p is 1.0 or 0.0."""
    X = np.zeros((3, 4), np.float32)
    for bias in (np.inf, -np.inf):
        p, z = probabilities_and_logits(_saturated(2, bias), X)
        np.testing.assert_array_equal(p, 1.0 if bias > 0 else 0.0)
        np.testing.assert_array_equal(z, bias)
