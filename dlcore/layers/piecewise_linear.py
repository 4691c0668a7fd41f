"""PiecewiseLinear: a fixed piecewise-linear encoding of every input feature, kept beside
the input: y = [x, e(x)], where e(x) has `bins` columns per feature,
e_b(x) = clip((x - lower_b) / width_b, 0, 1) (Gorishniy et al. 2022, "On Embeddings for
Numerical Features in Tabular Deep Learning": quantile bins).

Why: an MLP on standardised inputs must approximate thresholds ("amount above the
card's usual 99th percentile", "first transaction in this country") with many units; the
encoding hands it one column per quantile bin, so a step at a bin edge is one weight.
Trees are invariant to such monotone re-encodings; MLPs are not.

Non-trainable: `lower` and `inv_width` (both (features, bins)) are layer STATE (saved in
state.npz), set once from a sample of the training data with `set_edges` (the edges from
`quantile_edges`), so a saved model scores raw feature vectors with no side files and
training and scoring apply the same encoding. An unused bin has inv_width 0 (always 0).
Placed after Standardize, it sees standardised (clipped) values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.errors import ConfigError, ShapeError
from dlcore.layers.base import Backprop, Layer
from dlcore.params import ParamBuffer


def quantile_edges(X: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(lower, inv_width), each (features, bins), of quantile bins of the rows of X.

    Edges: the quantiles of every value at levels 0, 1/bins, ..., 1; where a value holds
    a large share (a spike at 0 of a sparse count), the edges that coincide are replaced
    by quantiles of the values other than the most frequent one, so the tail still gets
    its bins. Features with fewer distinct edges leave their last bins unused.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ShapeError(f"quantile_edges needs a non-empty 2-D array. Received shape {X.shape}")
    if not isinstance(bins, int) or bins < 1:
        raise ConfigError(f"quantile_edges: bins must be an int >= 1. Received: {bins!r}")
    lower = np.zeros((X.shape[1], bins))
    inv_width = np.zeros((X.shape[1], bins))
    for j in range(X.shape[1]):
        edges = _feature_edges(X[:, j], bins)
        n = len(edges) - 1
        lower[j, :n] = edges[:-1]
        inv_width[j, :n] = 1.0 / np.diff(edges)
    return lower, inv_width


def _feature_edges(x: np.ndarray, bins: int) -> np.ndarray:
    levels = np.linspace(0.0, 1.0, bins + 1)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.zeros(1)
    edges = np.unique(np.quantile(x, levels))
    if len(edges) < bins + 1:
        values, counts = np.unique(x, return_counts=True)
        rest = x[x != values[np.argmax(counts)]]
        if len(rest):
            extra = np.unique(np.quantile(rest, levels))
            extra = extra[~np.isin(extra, edges)]
            room = bins + 1 - len(edges)
            pick = np.linspace(0, len(extra) - 1, min(room, len(extra))).round().astype(int)
            edges = np.unique(np.concatenate([edges, extra[pick]]))
    return edges


def write_ramps(
    X: np.ndarray, lower: np.ndarray, inv_width: np.ndarray, *, out: np.ndarray
) -> None:
    """out (n, f, bins) = clip((X[:, :, None] - lower) * inv_width, 0, 1): the encoding
    (the fused scorer, dlcore.inference, applies the same operations to its used bins, so
    both compute the same values)."""
    np.subtract(X[:, :, None], lower, out=out)
    out *= inv_width
    np.clip(out, 0.0, 1.0, out=out)


def ramps_input_grad(
    dX: np.ndarray, dT: np.ndarray, T: np.ndarray, inv_width: np.ndarray
) -> np.ndarray:
    """The input gradient of [x, ramps(x)]: dX (of the kept x) + each ramp's dT times its
    slope, inv_width inside the ramp and 0 where it is clipped (T the ramps' values)."""
    inside = (T > 0) & (T < 1)
    return dX + (dT * inside * inv_width).sum(axis=2)


class PiecewiseLinear(Layer):
    rowwise_fixed = True

    def __init__(self, bins: int = 8, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 256:
            raise ConfigError(
                f"PiecewiseLinear: bins must be an int in [1, 256]. Received: {bins!r}"
            )
        self.bins = bins

    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = int(in_features)
        self.out_features = self.in_features * (1 + self.bins)
        self.lower = np.zeros((self.in_features, self.bins), dtype=params.dtype)
        self.inv_width = np.zeros((self.in_features, self.bins), dtype=params.dtype)
        return self.out_features

    def set_edges(self, lower: np.ndarray, inv_width: np.ndarray) -> None:
        """Set the bins (from `quantile_edges` of a training sample)."""
        self.load_state({"lower": lower, "inv_width": inv_width})

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        n, f = X.shape
        Y = np.empty((n, self.out_features), dtype=np.result_type(X, self.lower))
        Y[:, :f] = X
        T = Y[:, f:].reshape(n, f, self.bins)  # a view: the ramps are written in place
        write_ramps(X, self.lower, self.inv_width, out=T)
        inv_width = self.inv_width

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            if not self.needs_input_grad:
                return None
            dT = dY[:, f:].reshape(len(dY), f, -1)
            return ramps_input_grad(dY[:, :f], dT, T, inv_width)

        return Y, backprop

    def state(self) -> dict[str, np.ndarray]:
        return {"lower": self.lower.copy(), "inv_width": self.inv_width.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if set(state) != {"lower", "inv_width"}:
            raise ConfigError(
                f"PiecewiseLinear {self.name!r} state needs keys lower, inv_width. "
                f"Received {sorted(state)}"
            )
        for key in ("lower", "inv_width"):
            value = np.asarray(state[key])
            if value.shape != (self.in_features, self.bins):
                raise ShapeError(
                    f"PiecewiseLinear {self.name!r} {key} must have shape "
                    f"({self.in_features}, {self.bins}). Received {value.shape}"
                )
            if not np.all(np.isfinite(value)) or (key == "inv_width" and np.any(value < 0)):
                raise ConfigError(
                    f"PiecewiseLinear {self.name!r} {key} must be finite (inv_width >= 0)"
                )
            getattr(self, key)[...] = value

    def get_config(self) -> dict[str, Any]:
        return {"bins": self.bins, "name": self.name}
