"""Inputs a model saw at one value only: their first-layer weights folded into its bias.

A feature that holds one value in every training row (a flag never set in the training
window, a count whose window never saw a second event) gives the first Linear layer's
weights on it no signal: its standardised z is 0 in every row (Standardize centres a
feature of sd 0 and leaves its scale 1), so the gradient of those weights is 0 and they
keep their initial values, and an encoding's bins of it are unused (ramps always 0). When
the feature varies at scoring time, z = x - its training value moves the score by
weights nothing fitted, and the attribution names it as a reason (session 36 probe: a
flag 0 in every training row, set to 1 in 300 scored rows, moved their scores by up to
0.32 and was named a reason in 75 of them).

`fold_constant_inputs` sets those weights to 0 and adds what they gave at the training
value to the layer's bias, so the model's outputs on rows holding that value are the same
(to rounding) and any other value of the feature changes nothing: not the score, and not
its attribution (its gradient is 0), in the float64 layers and the fused plan alike.
Owns: finding the first Linear layer behind the leading parameter-free row-wise layers
(Standardize, input noise, dropout, a PiecewiseLinear encoding) and which of its input
columns belong to each feature. Does not own: deciding which features were constant
(callers pass the values, from their data's per-feature minimum and maximum).
"""

from __future__ import annotations

import numpy as np

from dlcore.errors import ShapeError
from dlcore.layers.dropout import Dropout
from dlcore.layers.gaussian_noise import GaussianNoise
from dlcore.layers.linear import Linear
from dlcore.layers.piecewise_linear import PiecewiseLinear
from dlcore.layers.sequential import Sequential
from dlcore.layers.standardize import Standardize
from dlcore.model import Model

_LEADING = (Standardize, GaussianNoise, Dropout, PiecewiseLinear)


def fold_constant_inputs(model: Model, values: np.ndarray) -> list[int]:
    """Fold the first Linear layer's weights on every feature j whose `values[j]` is finite
    (the one value it held in the training data; NaN: it varied) into that layer's bias
    at that value, and set them to 0. Returns the features folded, [] when the model is
    not a Sequential of leading Standardize / noise / dropout / PiecewiseLinear layers
    and then a Linear with a bias (other models are left as they are)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape != (model.in_features,):
        raise ShapeError(
            f"fold_constant_inputs: values must have shape ({model.in_features},), one per "
            f"input feature (NaN for a feature that varied). Received {values.shape}"
        )
    held = np.flatnonzero(np.isfinite(values))
    found = _first_linear(model)
    if not held.size or found is None:
        return []
    leading, first = found
    row = np.where(np.isfinite(values), values, 0.0).astype(model.dtype)[None, :]
    for layer in leading:  # inference mode: noise and dropout are the identity
        row, _ = layer.forward(row, training=False)
    cols = _columns(leading, model.in_features, held)
    W = first.W.astype(np.float64)
    bias = first.b.astype(np.float64) + row[0, cols].astype(np.float64) @ W[cols]
    first.b[...] = bias
    first.W[cols] = 0.0
    return [int(j) for j in held]


def _first_linear(model: Model) -> tuple[list, Linear] | None:
    layer = model.layer
    if type(layer) is not Sequential:
        return None
    for i, child in enumerate(layer.layers):
        if type(child) is Linear:
            return (list(layer.layers[:i]), child) if child.use_bias else None
        if type(child) not in _LEADING:
            return None
    return None


def _columns(leading: list, d: int, features: np.ndarray) -> np.ndarray:
    """The first Linear's input columns of `features`: column j, and with a PiecewiseLinear
    [z, ramps(z)] also d + j * bins + b for every bin b (its feature-major ramp order)."""
    encoding = next((la for la in leading if type(la) is PiecewiseLinear), None)
    if encoding is None:
        return features
    ramps = d + features[:, None] * encoding.bins + np.arange(encoding.bins)[None, :]
    return np.concatenate([features, ramps.reshape(-1)])
