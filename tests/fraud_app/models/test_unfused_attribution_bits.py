"""An ensemble the fused plan does not take (batch-norm, embedding members) attributes a
row (the scoring job's reasons) to the same bits in any batch, as the fused plan does
(review50l). Its scores were blocked in session 50, but its attribution still ran the
float64 twins on the whole batch: scored alone, 278-300 of 300 rows differed in the last
bits from their batch, so a served request and the Spark job could order near-tied
reasons differently. Self-contained (no helper of tests/dlcore), so it runs against the
base too."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.attribution import ensemble_attribution
from dlcore.errors import ShapeError
from dlcore.layers import (
    BatchNorm1d,
    FeatureEmbedding,
    LeakyReLU,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sequential,
    Standardize,
)
from dlcore.model import Model
from fraud_app.models.ensemble import FraudEnsemble

D = 6


def _randomized(model: Model, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    model.params.data[...] = rng.normal(0.0, 0.6, model.params.size)
    state = {}
    for key, value in model.layer.state().items():
        if key.endswith(("running_var", "inv_width")):
            state[key] = rng.uniform(0.5, 2.0, value.shape).astype(value.dtype)
        elif key.endswith("lower"):
            state[key] = np.sort(rng.normal(0.0, 1.0, value.shape), axis=-1).astype(value.dtype)
        else:
            state[key] = rng.normal(0.0, 1.0, value.shape).astype(value.dtype)
    model.layer.load_state(state)
    return model


def _batchnorm(seed: int) -> Model:
    # Linear(1) then Linear(9): an input gradient W^T (9, 1), a GEMV in NumPy's BLAS
    layers = [Standardize(clip=3.0), PiecewiseLinear(3), Linear(16), BatchNorm1d()]
    layers += [LeakyReLU(0.1), Linear(1), Linear(9), ReLU(), Linear(1)]
    return _randomized(Model(Sequential(layers), in_features=D, seed=seed), seed)


def _embedding(seed: int) -> Model:
    layers = [FeatureEmbedding([0, 3], [5, 7], 3), Linear(12), BatchNorm1d(), ReLU(), Linear(1)]
    return _randomized(Model(Sequential(layers), in_features=D, seed=seed), seed)


def _rows(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    X = rng.normal(0.0, 2.0, (n, D)).astype(np.float32)
    X[:, 0] = rng.integers(0, 5, n)
    X[:, 3] = rng.integers(0, 7, n)
    return X


def _ensemble(make) -> FraudEnsemble:
    return FraudEnsemble([make(k) for k in range(3)], [f"f{i}" for i in range(D)], {})


@pytest.mark.parametrize("make", [_batchnorm, _embedding])
def test_a_rows_attribution_is_the_same_bits_in_any_batch(make):
    ensemble = _ensemble(make)
    assert ensemble.fused() is None
    X, base = _rows(1300), np.full(D, 0.25)
    p, whole = ensemble.proba_and_attribution(X, base)
    np.testing.assert_array_equal(p, ensemble.predict_proba(X))
    alone = np.concatenate(
        [ensemble.proba_and_attribution(X[i : i + 1], base)[1] for i in range(60)]
    )
    np.testing.assert_array_equal(alone, whole[:60])
    for sl in (slice(7, 1300), slice(1000, 1111)):
        np.testing.assert_array_equal(ensemble.proba_and_attribution(X[sl], base)[1], whole[sl])
    # the values: dlcore.attribution's on the whole batch, up to rounding
    members = ensemble._float64_members()
    b32 = base.astype(np.float32).astype(np.float64)
    _, plain = ensemble_attribution(members, X.astype(np.float64), b32)
    np.testing.assert_allclose(whole, plain, rtol=1e-9, atol=1e-14)


def test_an_id_error_in_a_later_block_names_the_inputs_row():
    ensemble = _ensemble(_embedding)
    X = _rows(1300)
    X[1100, 3] = 9  # ids of feature 3 are < 7
    with pytest.raises(ShapeError, match=r"positions \[1100\]"):
        ensemble.proba_and_attribution(X, np.zeros(D))


def test_a_wrong_baseline_names_the_inputs_shape_not_a_blocks():
    with pytest.raises(ShapeError, match=r"Received \(3, 6\) and \(7,\)"):
        _ensemble(_embedding).proba_and_attribution(_rows(3), np.zeros(D + 1))
