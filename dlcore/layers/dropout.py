"""Dropout: inverted dropout (Srivastava et al. 2014, "Dropout: A Simple Way to Prevent
Neural Networks from Overfitting"), the form PyTorch and Keras use.

In training each unit is kept with probability 1 - rate and scaled by 1 / (1 - rate),
so the expected output equals the input and inference is the identity (no rescaling).

Owns: its own random stream. `initialize(rng)` derives it from the model's generator
with `rng.spawn(1)`, which leaves the parent's stream untouched: a model is
deterministic for a seed, and adding a Dropout does not change the initial weights of
the layers after it. The stream is not saved with the model (it is not model state).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcore.errors import ConfigError, NotBuiltError
from dlcore.layers.base import Backprop, Layer

_LEVELS = 1 << 16


class Dropout(Layer):
    def __init__(self, rate: float = 0.5, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float | np.integer | np.floating)
            or not math.isfinite(rate)
            or not 0.0 <= rate < 1.0
        ):
            raise ConfigError(f"Dropout: rate must be a number in [0, 1). Received: {rate!r}")
        self.rate = float(rate)
        self._threshold = round(self.rate * _LEVELS)
        if self._threshold >= _LEVELS:
            raise ConfigError(
                f"Dropout: rate must be below 1 - 2**-17 (it has a resolution of 2**-16). "
                f"Received: {rate!r}"
            )
        self._rng: np.random.Generator | None = None

    def initialize(self, rng: np.random.Generator) -> None:
        try:
            self._rng = rng.spawn(1)[0]
        except (TypeError, ValueError, AttributeError):
            # A Generator built without a SeedSequence cannot spawn; draw a seed instead.
            self._rng = np.random.default_rng(int(rng.integers(2**63)))

    def reseed(self, seed: int | list[int]) -> None:
        """Restart the mask stream from `seed` (e.g. [model_seed, rank] so that the workers
        of a data-parallel job, which share the model seed, draw different masks)."""
        try:
            self._rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"Dropout.reseed: seed must be a non-negative int or a list of them. "
                f"Received: {seed!r}"
            ) from exc

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        if not training or self._threshold == 0:
            return X, self._identity_backprop
        if self._rng is None:
            raise NotBuiltError(
                f"Dropout {self.name!r} has no random stream; call initialize(rng) "
                "(Model does) before a training forward pass"
            )
        keep, scale = self._keep_mask(X.shape)
        Y = np.multiply(X, keep)
        Y *= scale

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            if not self.needs_input_grad:
                return None
            dX = np.multiply(dY, keep)
            dX *= scale
            return dX

        return Y, backprop

    def _keep_mask(self, shape: tuple[int, ...]) -> tuple[np.ndarray, float]:
        """Boolean keep-mask and the matching scale 1 / P(keep).

        Draws uint16 integers (measured ~2x faster than float uniforms) and keeps
        those >= round(rate * 2**16), so the rate has a resolution of 2**-16; the scale
        uses the exact keep probability, so E[Y] = X holds exactly.
        """
        keep = self._rng.integers(0, _LEVELS, size=shape, dtype=np.uint16) >= self._threshold
        return keep, _LEVELS / (_LEVELS - self._threshold)

    def _identity_backprop(self, dY: np.ndarray) -> np.ndarray | None:
        return dY if self.needs_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "name": self.name}
