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

from dlcore.errors import ConfigError, NotBuiltError
from dlcore.layers.base import Backprop, Layer

_SALT = 0x6E6F697365  # "noise": keeps this stream apart from a Dropout's for the same seed


class GaussianNoise(Layer):
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
        self._rng: np.random.Generator | None = None

    def initialize(self, rng: np.random.Generator) -> None:
        try:
            self._rng = rng.spawn(1)[0]
        except (TypeError, ValueError, AttributeError):
            self._rng = np.random.default_rng(int(rng.integers(2**63)))

    def reseed(self, seed: int | list[int]) -> None:
        """Restart the noise stream from `seed` (an int or a list of non-negative ints)."""
        parts = list(seed) if isinstance(seed, list | tuple) else [seed]
        try:
            self._rng = np.random.default_rng([*parts, _SALT])
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"GaussianNoise.reseed: seed must be a non-negative int or a list of them. "
                f"Received: {seed!r}"
            ) from exc

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        if not training or self.stddev == 0.0:
            return X, self._identity_backprop
        if self._rng is None:
            raise NotBuiltError(
                f"GaussianNoise {self.name!r} has no random stream; call initialize(rng) "
                "(Model does) before a training forward pass"
            )
        noise = self._rng.standard_normal(X.shape, dtype=np.float32)
        noise *= self.stddev
        Y = np.add(X, noise, dtype=X.dtype)
        return Y, self._identity_backprop

    def _identity_backprop(self, dY: np.ndarray) -> np.ndarray | None:
        return dY if self.needs_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {"stddev": self.stddev, "name": self.name}
