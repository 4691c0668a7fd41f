"""Fused float64 ensemble inference against member-by-member float64 scoring."""

from __future__ import annotations

import numpy as np
import pytest

import dlcore.inference as inference
from dlcore.attribution import ensemble_attribution
from dlcore.errors import ShapeError
from dlcore.inference import compile_ensemble, mean_sigmoid
from dlcore.layers import (
    BatchNorm1d,
    Dropout,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Standardize,
    Tanh,
)
from dlcore.losses import sigmoid
from dlcore.model import Model

D = 7
ACTS = {"relu": ReLU, "tanh": Tanh, "leaky": lambda: LeakyReLU(0.2)}


def _member(seed, *, act="relu", hidden=(9, 5), clip=2.0, stats_seed=None, std=True):
    layers = [Standardize(clip=clip, name="standardize")] if std else []
    for width in hidden:
        layers += [Linear(width), ACTS[act](), Dropout(0.2)]
    layers.append(Linear(1))
    model = Model(Sequential(layers), in_features=D, seed=seed, dtype="float64")
    if std:
        rng = np.random.default_rng(seed if stats_seed is None else stats_seed)
        model.layer.layers[0].set_statistics(rng.standard_normal(D), rng.random(D) + 0.5)
    return model


def _reference(models, X):
    return np.mean([sigmoid(m.predict(X)[:, 0]) for m in models], axis=0)


def _rows(n=300, seed=0):
    return np.random.default_rng(seed).standard_normal((n, D)) * 3  # many clipped values


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("hidden", [(9, 5), (6,), (8, 6, 4)])
def test_fused_scores_and_gradients_equal_the_members(act, shared, hidden):
    models = [
        _member(k, act=act, hidden=hidden, stats_seed=0 if shared else None) for k in range(4)
    ]
    fused = compile_ensemble(models)
    assert fused is not None
    X = _rows()
    np.testing.assert_allclose(fused.proba(X), _reference(models, X), rtol=0, atol=1e-14)
    proba, grad = fused.proba_and_gradient(X)
    ref_p, ref_attr = ensemble_attribution(models, X, np.zeros(D))
    np.testing.assert_allclose(proba, ref_p, rtol=0, atol=1e-14)
    np.testing.assert_allclose(grad * X, ref_attr, rtol=0, atol=1e-13)


def test_fused_without_standardize():
    models = [_member(k, std=False) for k in range(3)]
    X = _rows()
    np.testing.assert_allclose(compile_ensemble(models).proba(X), _reference(models, X), atol=1e-14)


def test_a_row_scores_the_same_in_any_batch(monkeypatch):
    """What lets Spark batches, a pyfunc call and a server agree: the row's score does not
    depend on its neighbours or on where the row chunks fall."""
    models = [_member(k, stats_seed=0) for k in range(3)]
    fused = compile_ensemble(models)
    X = _rows(1000)
    whole = fused.proba(X)
    monkeypatch.setattr(inference, "CHUNK_ROWS", 7)
    np.testing.assert_allclose(fused.proba(X[13:400]), whole[13:400], rtol=0, atol=1e-15)
    np.testing.assert_allclose(fused.proba(X[999:]), whole[999:], rtol=0, atol=1e-15)


def test_member_logits_and_mean_sigmoid():
    models = [_member(k) for k in range(3)]
    X = _rows(50)
    logits = compile_ensemble(models).member_logits(X)
    for k, m in enumerate(models):
        np.testing.assert_allclose(logits[:, k], m.predict(X)[:, 0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(mean_sigmoid(logits), _reference(models, X), atol=1e-15)


def test_what_cannot_be_fused_is_refused():
    bn = Model(
        Sequential([Linear(4), BatchNorm1d(), ReLU(), Linear(1)]), in_features=D, dtype="float64"
    )
    assert compile_ensemble([bn]) is None
    assert compile_ensemble([_member(0, hidden=(9, 5)), _member(1, hidden=(9, 4))]) is None
    assert compile_ensemble([_member(0, act="relu"), _member(1, act="tanh")]) is None
    assert compile_ensemble([_member(0, clip=2.0), _member(1, clip=3.0)]) is None
    assert compile_ensemble([_member(0), _member(1, std=False)]) is None
    two_out = Model(Sequential([Linear(4), ReLU(), Linear(2)]), in_features=D)
    assert compile_ensemble([two_out]) is None
    assert compile_ensemble([]) is None


def test_wrong_width_is_a_shape_error():
    fused = compile_ensemble([_member(0)])
    with pytest.raises(ShapeError, match=r"shape \(batch, 7\)"):
        fused.proba(np.zeros((3, 6)))
    with pytest.raises(ShapeError, match=r"shape \(batch, 7\)"):
        fused.proba_and_gradient(np.zeros(7))
