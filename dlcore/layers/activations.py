"""Element-wise activations: ReLU, LeakyReLU, Tanh, Sigmoid.

Owns: the forward maps and their derivatives. None of them has parameters, so
each keeps the input width and writes nothing to the gradient buffer.

Speed notes (these sit on the hot path of the MLP benchmark, batch 1024, width
256, float32): every op keeps the input dtype (scalars are Python floats, which
NumPy treats as weak, so float32 never becomes float64); the ReLU family stores
a boolean mask in training mode and backprop is one `multiply(dY, mask)`, which
measured faster than `np.maximum` + recomputing the mask, and much faster than
`np.where`. Inputs and dY are never modified in place: a caller may still hold them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcore.errors import ConfigError
from dlcore.layers.base import Backprop, Layer
from dlcore.losses import sigmoid


class ReLU(Layer):
    """max(x, 0). The derivative at 0 is taken as 0 (PyTorch's convention)."""

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        if training:
            # X * (X > 0) is the fast form; it maps -inf to NaN, which only happens
            # after a model has already diverged.
            mask = np.greater(X, 0)
            Y = np.multiply(X, mask)
        else:
            mask = None
            Y = np.maximum(X, 0)

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            if not self.needs_input_grad:
                return None
            return np.multiply(dY, np.greater(Y, 0) if mask is None else mask)

        return Y, backprop


class LeakyReLU(Layer):
    """x for x > 0, negative_slope * x otherwise (any finite slope, as in PyTorch)."""

    def __init__(self, negative_slope: float = 0.01, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, int | float | np.integer | np.floating)
            or not math.isfinite(negative_slope)
        ):
            raise ConfigError(
                f"LeakyReLU: negative_slope must be a finite number. Received: {negative_slope!r}"
            )
        # A Python float, so float32 inputs stay float32 (weak scalar promotion).
        self.negative_slope = float(negative_slope)

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        slope = self.negative_slope
        mask = np.greater(X, 0)
        # Y = X * (slope + (1 - slope) * mask): one small factor array, one multiply.
        factor = mask.astype(X.dtype)
        factor *= 1.0 - slope
        factor += slope
        Y = np.multiply(X, factor)

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            if not self.needs_input_grad:
                return None
            return np.multiply(dY, factor)

        return Y, backprop

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope, "name": self.name}


class Tanh(Layer):
    """tanh(x); derivative 1 - tanh(x)^2 computed from the saved output."""

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        Y = np.tanh(X)

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            if not self.needs_input_grad:
                return None
            dX = np.multiply(Y, Y)
            np.subtract(1, dX, out=dX)
            dX *= dY
            return dX

        return Y, backprop


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), computed without overflow (see `dlcore.losses.sigmoid`)."""

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        Y = sigmoid(X)

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            if not self.needs_input_grad:
                return None
            dX = np.subtract(1, Y)
            dX *= Y
            dX *= dY
            return dX

        return Y, backprop
