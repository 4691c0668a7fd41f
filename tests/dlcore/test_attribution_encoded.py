"""Attribution through a PiecewiseLinear input encoding (`training.model.encoding:
piecewise_linear`, the default), session 35 probe (docs/PROBES.md).

The gradient with respect to z times (z - z(baseline)) saw only the slope of the bin z
sits in: the ramps between the baseline and z, saturated at 1 where z lies, had gradient
0, and a value on a bin edge (every value of a count or a flag: the edges are its
quantiles) had none of its ramps' slopes, or one of them by float rounding (the fused
float32 plan and the float64 fallback named other reasons in 571 of 1,056 scored rows).
On a trained model its top reason was the feature whose removal (set to the training
mean) moved the score most in 22 % of the test rows. The attribution is now gradient x
(input - baseline) over the encoded input [z, ramps(z)], summed per feature: exact for the
first layer, continuous in z, the same in both plans.
"""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.attribution import ensemble_attribution, top_features
from dlcore.inference import compile_ensemble
from dlcore.layers import Dropout, Linear, ReLU, Sequential, Standardize
from dlcore.layers.piecewise_linear import PiecewiseLinear
from dlcore.losses import sigmoid
from dlcore.model import Model
from tests.dlcore.harness import float64_twins

D = 3


def _member(
    seed: int, *, dtype: str = "float64", hidden: int | None = None, dropout: bool = False
) -> Model:
    """Standardize -> PiecewiseLinear(4) -> [Linear -> ReLU] -> Linear(1); feature 0 a
    count 0..6, feature 1 a 0/1 flag, feature 2 continuous. Bins on fixed edges (the same
    for every member, as training fits them)."""
    layers = [Standardize(clip=3.0, name="standardize"), PiecewiseLinear(4)]
    if dropout:  # identity in inference
        layers.insert(1, Dropout(0.2))
    layers += [Linear(hidden), ReLU()] if hidden else []
    model = Model(Sequential([*layers, Linear(1)]), in_features=D, seed=seed, dtype=dtype)
    model.layer.layers[0].set_statistics(np.array([2.0, 0.1, 0.0]), np.array([2.0, 0.3, 1.0]))
    # z-space edges: the count's at its own values (k - 2) / 2, the flag's at 0 and 1
    edges = [np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), np.array([-1 / 3, 3.0, 0, 0, 0]),
             np.array([-2.0, -1.0, 0.0, 1.0, 2.0])]  # fmt: skip
    lower = np.array([e[:4] for e in edges])
    inv_width = np.array([1 / np.diff(edges[0]), [1 / (3.0 + 1 / 3), 0, 0, 0],
                          1 / np.diff(edges[2])])  # fmt: skip
    model.layer.layers[1 + dropout].set_edges(lower, inv_width)
    rng = np.random.default_rng(seed)
    model.params.set_data(rng.standard_normal(model.params.size).astype(dtype))
    return model


def _rows(dtype) -> np.ndarray:
    return np.array(
        [[6.0, 1.0, 0.3], [0.0, 0.0, -1.5], [4.0, 1.0, 2.0], [2.0, 0.0, 0.0], [3.0, 1.0, -0.2]],
        dtype=dtype,
    )


BASELINE = np.array([2.0, 0.1, 0.0])


def _occlusion_logit(model: Model, X: np.ndarray) -> np.ndarray:
    """(n, d): logit(x) - logit(x with feature j at the baseline), brute force."""
    out = np.zeros(X.shape)
    full = model.predict(X)[:, 0]
    for j in range(D):
        Xj = X.copy()
        Xj[:, j] = BASELINE[j]
        out[:, j] = full - model.predict(Xj)[:, 0]
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_model_linear_in_the_encoding_is_attributed_its_exact_logit_changes(dtype):
    # A linear layer on [z, ramps(z)]: each feature moves the logit by exactly its own
    # terms, so the attribution of the probability is s(1 - s) x that change. The gradient
    # x (z - z_b) in z gave the count 6 (4 units above the mean, past 3 bins) the slope of
    # the last bin only, and the flag (on its edge at 1) none of its ramp.
    model = _member(0, dtype=dtype)
    X = _rows(dtype)
    _proba, attr = ensemble_attribution([model], X, BASELINE)
    s = sigmoid(model.predict(X)[:, 0].astype(np.float64))
    expected = _occlusion_logit(model, X).astype(np.float64) * (s * (1 - s))[:, None]
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(attr, expected, rtol=0, atol=tol)


def test_the_fused_plan_and_the_layers_give_the_same_attribution_and_reasons_in_float32():
    # values on bin edges: the float32 plan put both ramps at exactly 0 and 1 (no slope),
    # the float64 layers 1e-8 inside one of them; their reasons differed
    members = [_member(k, dtype="float32", hidden=6) for k in range(3)]
    fused = compile_ensemble(members)
    assert fused is not None and fused.encoding is not None
    X = np.tile(_rows("float32"), (60, 1))
    X[:, 2] += np.linspace(-2, 2, len(X), dtype=np.float32)
    _proba, attr = fused.proba_and_attribution(X, BASELINE)
    twins = float64_twins(members)
    _, ref = ensemble_attribution(twins, X.astype(np.float64), BASELINE)
    np.testing.assert_allclose(attr, ref, rtol=0, atol=1e-6)
    assert (top_features(attr, 2) == top_features(ref, 2)).all()


def test_a_dropout_before_the_encoding_is_skipped_as_the_fused_plan_skips_it():
    """Standardize -> Dropout -> PiecewiseLinear (an imported or hand-built model; identity
    in inference): the fused plan skips the Dropout and attributes the encoded input, the
    float64 layers skipped only GaussianNoise and took the gradient in z (review 35: up
    to 0.19 apart)."""
    members = [_member(k, hidden=6, dropout=True) for k in range(2)]
    fused = compile_ensemble(members)
    assert fused is not None and fused.encoding is not None
    X = _rows("float64")
    _proba, attr = fused.proba_and_attribution(X, BASELINE)
    _, ref = ensemble_attribution(members, X, BASELINE)
    np.testing.assert_allclose(ref, attr, rtol=0, atol=1e-9)  # was: up to 0.19 apart


def test_no_rows_give_an_empty_attribution_as_the_fused_plan_does():
    # probe55e: the per-feature fold reshaped with -1, which NumPy cannot infer for 0 rows
    # (ValueError: cannot reshape array of size 0 into shape (0,3,newaxis))
    models = [_member(0), _member(1, hidden=5)]
    X = np.zeros((0, D))
    proba, attr = ensemble_attribution(models, X, np.zeros(D))
    assert proba.shape == (0,) and attr.shape == (0, D)
    fused = compile_ensemble([_member(0, hidden=5), _member(1, hidden=5)])
    assert fused is not None
    assert fused.proba_and_attribution(X, np.zeros(D))[1].shape == (0, D)
