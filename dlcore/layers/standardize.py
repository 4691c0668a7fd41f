"""Standardize: y = clip((x - mean) / scale, -clip, clip), with statistics stored in the model.

Non-trainable: mean and scale are layer STATE (saved in state.npz next to the
weights), set once from the training data with `set_statistics`, so a saved
model scores raw feature vectors with no side files. Clipping bounds the
influence of heavy-tailed features (amount sums) on the first Linear layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.errors import ConfigError, ShapeError
from dlcore.layers.base import Backprop, Layer
from dlcore.params import ParamBuffer


class Standardize(Layer):
    rowwise_fixed = True

    def __init__(self, *, clip: float | None = 10.0, name: str | None = None) -> None:
        super().__init__(name=name)
        if clip is not None and not (isinstance(clip, int | float) and clip > 0):
            raise ConfigError(f"Standardize: clip must be a number > 0 or None. Received: {clip!r}")
        self.clip = None if clip is None else float(clip)

    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = self.out_features = int(in_features)
        self.mean = np.zeros(self.in_features, dtype=params.dtype)
        self.scale = np.ones(self.in_features, dtype=params.dtype)
        return self.out_features

    def set_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        std = np.asarray(std, dtype=np.float64).reshape(-1)
        if mean.shape != (self.in_features,) or std.shape != (self.in_features,):
            raise ShapeError(
                f"Standardize {self.name!r} needs mean and std of length {self.in_features}. "
                f"Received {mean.shape} and {std.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise ConfigError(f"Standardize {self.name!r}: mean/std must be finite")
        # A constant feature (std 0) is centred, not scaled.
        self.mean[...] = mean
        self.scale[...] = np.where(std > 1e-12, std, 1.0)

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        Y = X - self.mean
        Y /= self.scale
        if self.clip is not None:
            np.clip(Y, -self.clip, self.clip, out=Y)
            inside = np.abs(Y) < self.clip
        scale = self.scale

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            if not self.needs_input_grad:
                return None
            dX = dY / scale
            if self.clip is not None:
                dX *= inside
            return dX

        return Y, backprop

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.copy(), "scale": self.scale.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if set(state) != {"mean", "scale"}:
            raise ConfigError(
                f"Standardize {self.name!r} state needs keys mean, scale. Received {sorted(state)}"
            )
        for key in ("mean", "scale"):
            value = np.asarray(state[key])
            if value.shape != (self.in_features,):
                raise ShapeError(
                    f"Standardize {self.name!r} {key} must have shape ({self.in_features},). Received {value.shape}"
                )
            getattr(self, key)[...] = value

    def get_config(self) -> dict[str, Any]:
        return {"clip": self.clip, "name": self.name}
