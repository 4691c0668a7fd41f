"""A feature that held one value in every training row moves neither the score nor its
attribution once its first-layer weights are folded (dlcore.constant_inputs; session 36
probe, docs/PROBES.md: a flag never set in training, set at scoring, moved scores by up
to 0.32 and was named a reason in 75 of 300 rows)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.attribution import ensemble_attribution
from dlcore.constant_inputs import fold_constant_inputs
from dlcore.errors import ShapeError
from dlcore.inference import compile_ensemble
from dlcore.layers import GaussianNoise, Linear, ReLU, Sequential, Standardize
from dlcore.layers.batchnorm import BatchNorm1d
from dlcore.layers.piecewise_linear import PiecewiseLinear, quantile_edges
from dlcore.model import Model

D = 4
FLAG, CONST = 2, 3  # a flag never set in training (0) and a constant 123.456


def _training_rows(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D)) * [1.0, 5.0, 0.0, 0.0] + [0.0, 2.0, 0.0, 123.456]
    return X.astype(np.float32)


def _member(seed: int, *, encoding: bool, noise: bool = False) -> Model:
    """Standardize [-> noise] [-> PiecewiseLinear(4)] -> Linear(6) -> ReLU -> Linear(1) with
    its initial weights (what training leaves on a constant feature: nothing fits them)."""
    X = _training_rows()
    layers = [Standardize(clip=5.0, name="standardize")]
    layers += [GaussianNoise(0.1)] if noise else []
    layers += [PiecewiseLinear(4)] if encoding else []
    model = Model(Sequential([*layers, Linear(6), ReLU(), Linear(1)]), in_features=D, seed=seed)
    std = model.layer.layers[0]
    std.set_statistics(X.astype(np.float64).mean(0), X.astype(np.float64).std(0))
    if encoding:
        model.layer.layers[-4].set_edges(*quantile_edges(std.forward(X, False)[0], 4))
    model.layer.layers[-3].b[...] = 0.3  # a bias, as training leaves one
    return model


def _varied(X: np.ndarray) -> np.ndarray:
    out = X.copy()
    out[::2, FLAG] = 1.0
    out[1::3, CONST] = 124.0
    out[::5, CONST] = 0.0
    return out


@pytest.mark.parametrize("encoding", [False, True])
@pytest.mark.parametrize("noise", [False, True])
def test_a_feature_constant_in_training_no_longer_moves_the_score(encoding, noise):
    X = _training_rows()
    model = _member(0, encoding=encoding, noise=noise)
    before = model.predict(X)
    assert np.abs(model.predict(_varied(X)) - before).max() > 0.05  # the untrained weights
    values = np.full(D, np.nan)
    values[[FLAG, CONST]] = [0.0, np.float32(123.456)]
    assert fold_constant_inputs(model, values) == [FLAG, CONST]
    np.testing.assert_allclose(model.predict(X), before, rtol=1e-5, atol=1e-6)  # same model
    np.testing.assert_array_equal(model.predict(_varied(X)), model.predict(X))


@pytest.mark.parametrize("encoding", [False, True])
def test_the_folded_feature_is_attributed_0_in_the_fused_plan_and_the_layers(encoding):
    X = _varied(_training_rows())
    members = [_member(seed, encoding=encoding) for seed in (0, 1)]
    values = np.array([np.nan, np.nan, 0.0, np.float32(123.456)])
    for m in members:
        fold_constant_inputs(m, values)
    baseline = _training_rows().astype(np.float64).mean(0)
    fused = compile_ensemble(members)
    assert fused is not None
    p32, a32 = fused.proba_and_attribution(X, baseline)
    b32 = baseline.astype(np.float32).astype(np.float64)  # as FraudEnsemble passes it
    p64, a64 = ensemble_attribution(members, X.astype(np.float64), b32)
    assert not a32[:, [FLAG, CONST]].any() and not a64[:, [FLAG, CONST]].any()
    np.testing.assert_allclose(a32, a64, atol=1e-6)
    np.testing.assert_allclose(p32, p64, atol=1e-6)
    # occlusion (the feature set to its training mean, the batch re-scored): 0 as well
    for j in (FLAG, CONST):
        Xo = X.copy()
        Xo[:, j] = np.float32(baseline[j])
        np.testing.assert_array_equal(fused.proba(Xo), fused.proba(X))


def test_models_it_cannot_fold_are_left_and_a_wrong_width_is_named():
    model = Model(Sequential([Standardize(), BatchNorm1d(), Linear(1)]), in_features=D)
    before = model.params.data.copy()
    assert fold_constant_inputs(model, np.zeros(D)) == []
    np.testing.assert_array_equal(model.params.data, before)
    assert fold_constant_inputs(_member(0, encoding=False), np.full(D, np.nan)) == []
    with pytest.raises(ShapeError, match=r"values must have shape \(4,\), one per input"):
        fold_constant_inputs(model, np.zeros(3))
