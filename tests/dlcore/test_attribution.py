"""Input gradients and gradient x (input - baseline) attribution, against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.attribution import ensemble_attribution, input_gradient, top_features
from dlcore.errors import ShapeError
from dlcore.layers import BatchNorm1d, Dropout, Linear, ReLU, Sequential, Standardize, Tanh
from dlcore.losses import sigmoid
from dlcore.model import Model

D = 6


def _model(seed: int, *, batchnorm: bool = False) -> Model:
    layers = [Standardize(clip=None, name="standardize"), Linear(8)]
    if batchnorm:
        layers.append(BatchNorm1d())
    layers += [Tanh(), Dropout(0.3), Linear(5), ReLU(), Linear(1)]
    model = Model(Sequential(layers), in_features=D, seed=seed, dtype="float64")
    rng = np.random.default_rng(seed)
    model.layer.layers[0].set_statistics(rng.standard_normal(D), rng.random(D) + 0.5)
    if batchnorm:
        bn = model.layer.layers[2]
        bn.load_state({"running_mean": rng.standard_normal(8), "running_var": rng.random(8) + 0.5})
    return model


def _proba(models, X):
    return np.mean([sigmoid(m.predict(X)[:, 0]) for m in models], axis=0)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_input_gradient_matches_finite_differences(batchnorm):
    model = _model(1, batchnorm=batchnorm)
    X = np.random.default_rng(0).standard_normal((4, D))
    grad = input_gradient(model, X)
    eps = 1e-6
    for j in range(D):
        step = np.zeros(D)
        step[j] = eps
        fd = (model.predict(X + step)[:, 0] - model.predict(X - step)[:, 0]) / (2 * eps)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-5, atol=1e-8)


def test_input_gradient_restores_the_models_input_grad_flags():
    model = _model(2)
    before = [model.layer.needs_input_grad, model.layer.layers[0].needs_input_grad]
    input_gradient(model, np.zeros((2, D)))
    assert [model.layer.needs_input_grad, model.layer.layers[0].needs_input_grad] == before
    assert before == [False, False]  # Model turns them off; training stays as fast as before


def test_ensemble_attribution_is_gradient_of_mean_probability_times_delta():
    models = [_model(s) for s in (3, 4, 5)]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, D))
    baseline = rng.standard_normal(D)
    proba, attr = ensemble_attribution(models, X, baseline)
    np.testing.assert_allclose(proba, _proba(models, X), rtol=1e-12)
    eps = 1e-6
    for j in range(D):
        step = np.zeros(D)
        step[j] = eps
        fd = (_proba(models, X + step) - _proba(models, X - step)) / (2 * eps)
        np.testing.assert_allclose(attr[:, j], fd * (X[:, j] - baseline[j]), rtol=1e-5, atol=1e-10)


def test_ensemble_attribution_checks_shapes():
    with pytest.raises(ShapeError, match="baseline"):
        ensemble_attribution([_model(0)], np.zeros((2, D)), np.zeros(D + 1))
    with pytest.raises(ShapeError, match="at least one model"):
        ensemble_attribution([], np.zeros((2, D)), np.zeros(D))


def test_top_features_orders_by_attribution_with_stable_ties():
    a = np.array([[0.1, 0.5, -1.0, 0.5], [3.0, 2.0, 1.0, 0.0]])
    assert top_features(a, 3).tolist() == [[1, 3, 0], [0, 1, 2]]
    assert top_features(a, 9).shape == (2, 4)


def test_top_features_equal_a_stable_full_sort_with_ties():
    rng = np.random.default_rng(3)
    a = rng.integers(-2, 3, size=(500, 9)).astype(np.float64)  # many ties
    expected = np.argsort(-a, axis=1, kind="stable")
    for n in (1, 3, 9, 12):
        np.testing.assert_array_equal(top_features(a, n), expected[:, : min(n, 9)])
    a[0, 4] = np.nan  # non-finite values: the full sort (NaN last)
    np.testing.assert_array_equal(top_features(a, 3), np.argsort(-a, axis=1, kind="stable")[:, :3])


def _clipped_model(seed: int) -> Model:
    layers = [Standardize(clip=3.0, name="standardize"), Linear(8), Tanh(), Linear(1)]
    model = Model(Sequential(layers), in_features=D, seed=seed, dtype="float64")
    rng = np.random.default_rng(0)  # one standardisation for all members, as training fits
    model.layer.layers[0].set_statistics(rng.standard_normal(D), rng.random(D) + 0.5)
    return model


def test_an_input_beyond_the_clip_keeps_its_share():
    """Session 19 probe: an amount of 9e9 (training: thousands) scored high, but the raw
    input gradient is 0 beyond the standardisation's clip, so no reason code named it.
    In the standardised input the clipped feature is credited as if it sat at the clip."""
    models = [_clipped_model(s) for s in (3, 4)]
    std = models[0].layer.layers[0]
    baseline = np.array(std.mean)  # the training mean: the scorer's baseline
    X = np.random.default_rng(2).standard_normal((4, D)) * 0.5 + baseline
    far = X.copy()
    far[:, 0] = 9e9
    proba, attr = ensemble_attribution(models, far, baseline)
    _, raw = ensemble_attribution(models, far, baseline, space="input")
    assert (raw[:, 0] == 0).all() and (np.abs(attr[:, 0]) > 1e-3).all()
    # the same as the raw-input attribution of a value just inside the clip
    inside = far.copy()
    inside[:, 0] = baseline[0] + (3.0 - 1e-9) * std.scale[0]
    _, at_edge = ensemble_attribution(models, inside, baseline, space="input")
    np.testing.assert_allclose(attr, at_edge, rtol=1e-6, atol=1e-12)
    # features not clipped: both forms agree
    np.testing.assert_allclose(attr[:, 1:], raw[:, 1:], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(proba, _proba(models, far), rtol=1e-12)
