"""GaussianNoise: additive zero-mean Gaussian noise in training, the identity at inference
(Bishop 1995, "Training with noise is equivalent to Tikhonov regularization"; the form of
Keras' `GaussianNoise`). Put after a standardisation, `stddev` is in units of each
feature's standard deviation.

Owns: its own random stream, as Dropout: `initialize(rng)` derives it with `rng.spawn(1)`
(the parent's stream and so the later layers' initial weights do not change), and
`reseed(seed)` restarts it (a data-parallel trainer reseeds every iteration with
[seed, rank, iteration]). The stream of `reseed` is salted, so a GaussianNoise and a
Dropout reseeded with the same seed draw unrelated numbers. The stream is not model state.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcore.errors import ConfigError
from dlcore.layers.base import Backprop
from dlcore.layers.random_stream import RandomStreamLayer

_SALT = 0x6E6F697365  # "noise": keeps this stream apart from a Dropout's for the same seed


class GaussianNoise(RandomStreamLayer):
    SALT = _SALT

    def __init__(self, stddev: float = 0.1, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if (
            isinstance(stddev, bool)
            or not isinstance(stddev, int | float | np.integer | np.floating)
            or not math.isfinite(stddev)
            or stddev < 0.0
        ):
            raise ConfigError(
                f"GaussianNoise: stddev must be a finite number >= 0. Received: {stddev!r}"
            )
        self.stddev = float(stddev)

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        if not training or self.stddev == 0.0:
            return X, self._identity_backprop
        noise = self.stream().standard_normal(X.shape, dtype=np.float32)
        noise *= self.stddev
        Y = np.add(X, noise, dtype=X.dtype)
        return Y, self._identity_backprop

    def get_config(self) -> dict[str, Any]:
        return {"stddev": self.stddev, "name": self.name}
