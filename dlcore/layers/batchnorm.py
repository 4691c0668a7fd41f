"""BatchNorm1d (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift") over the features of a (batch, F) input.

Owns: gamma/beta (trainable, in the ParamBuffer as "<name>.gamma" / "<name>.beta") and
the running mean/variance (non-trainable: `state()`, never seen by the optimizer or the
all-reduce). Follows PyTorch's conventions so results compare with torch.nn.BatchNorm1d:

- training normalises with the batch mean and the biased batch variance, and updates
  running = (1 - momentum) * running + momentum * batch_stat, with the UNBIASED
  variance for running_var;
- inference normalises with the running statistics (and backprop treats them as constants).

In a distributed run each worker normalises with its local batch statistics (no
cross-worker sync, like torch without SyncBatchNorm), so running statistics differ per
worker; whichever rank saves the model decides which ones are kept.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcore.backends import Ops
from dlcore.errors import ConfigError, NotBuiltError, ShapeError
from dlcore.layers.base import Backprop, Layer
from dlcore.params import ParamBuffer


def _positive_fraction(value: Any, what: str, hi: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or not 0.0 < value <= hi
    ):
        raise ConfigError(f"BatchNorm1d: {what} must be a number in (0, {hi}]. Received: {value!r}")
    return float(value)


class BatchNorm1d(Layer):
    def __init__(
        self, *, momentum: float = 0.1, eps: float = 1e-5, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        self.momentum = _positive_fraction(momentum, "momentum", 1.0)
        self.eps = _positive_fraction(eps, "eps", 1.0)
        self.running_mean: np.ndarray | None = None
        self.running_var: np.ndarray | None = None

    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = self.out_features = int(in_features)
        params.declare(self.pname("gamma"), (self.in_features,))
        params.declare(self.pname("beta"), (self.in_features,))
        return self.out_features

    def bind(self, params: ParamBuffer, ops: Ops) -> None:
        super().bind(params, ops)
        self.gamma = params.view(self.pname("gamma"))
        self.beta = params.view(self.pname("beta"))
        self.dgamma = params.grad_view(self.pname("gamma"))
        self.dbeta = params.grad_view(self.pname("beta"))
        self.running_mean = np.zeros(self.in_features, dtype=params.dtype)
        self.running_var = np.ones(self.in_features, dtype=params.dtype)

    def initialize(self, rng: np.random.Generator) -> None:
        self.gamma.fill(1.0)
        self.beta.fill(0.0)
        self.running_mean.fill(0.0)
        self.running_var.fill(1.0)

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        if training:
            return self._forward_train(X)
        return self._forward_infer(X)

    def _forward_train(self, X: np.ndarray) -> tuple[np.ndarray, Backprop]:
        n = X.shape[0]
        if n < 2:
            raise ShapeError(
                f"BatchNorm1d {self.name!r}: training needs at least 2 rows per batch to "
                f"estimate a variance. Received a batch of {n}"
            )
        mean = X.mean(axis=0)
        xhat = np.subtract(X, mean)
        Y = np.multiply(xhat, xhat)  # scratch: squared deviations, reused as the output
        var = Y.mean(axis=0)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat *= inv_std
        np.multiply(xhat, self.gamma, out=Y)
        Y += self.beta
        m = self.momentum
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += (m * n / (n - 1)) * var

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            # dX = gamma * inv_std * (dY - mean(dY) - xhat * mean(dY * xhat))
            scratch = np.multiply(dY, xhat)
            np.sum(scratch, axis=0, out=self.dgamma)
            np.sum(dY, axis=0, out=self.dbeta)
            if not self.needs_input_grad:
                return None
            np.multiply(xhat, self.dgamma / n, out=scratch)
            scratch += self.dbeta / n
            np.subtract(dY, scratch, out=scratch)
            scratch *= self.gamma * inv_std
            return scratch

        return Y, backprop

    def _forward_infer(self, X: np.ndarray) -> tuple[np.ndarray, Backprop]:
        inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
        scale = self.gamma * inv_std
        mean = self.running_mean.copy()  # backprop must see the statistics used here
        Y = np.subtract(X, mean)
        Y *= scale
        Y += self.beta

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            xhat = np.subtract(X, mean)
            xhat *= inv_std
            xhat *= dY
            np.sum(xhat, axis=0, out=self.dgamma)
            np.sum(dY, axis=0, out=self.dbeta)
            if not self.needs_input_grad:
                return None
            return np.multiply(dY, scale)

        return Y, backprop

    # -- state and config ------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {"running_mean": self.running_mean.copy(), "running_var": self.running_var.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if self.running_mean is None:
            raise NotBuiltError(
                f"BatchNorm1d {self.name!r}: load_state() before the model is built"
            )
        expected = {"running_mean", "running_var"}
        if set(state) != expected:
            raise ConfigError(
                f"BatchNorm1d {self.name!r}: state needs keys {sorted(expected)}. "
                f"Received {sorted(state)}"
            )
        for key in sorted(expected):
            value = np.asarray(state[key])
            if value.shape != (self.in_features,):
                raise ShapeError(
                    f"BatchNorm1d {self.name!r}: state[{key!r}] must have shape "
                    f"({self.in_features},). Received {value.shape}"
                )
            getattr(self, key)[...] = value

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "eps": self.eps, "name": self.name}
