"""RandomStreamLayer: the random stream of a layer that draws in training (Dropout,
GaussianNoise) and is the identity at inference.

`initialize(rng)` derives the stream from the model's generator with `rng.spawn(1)`, which
leaves the parent's stream untouched (adding such a layer does not change the initial
weights of the layers after it); `reseed(seed)` restarts it (a data-parallel trainer
reseeds every iteration with [seed, rank, iteration]). A subclass with a `SALT` appends it
to the seed, so two kinds of layer reseeded with the same seed draw unrelated numbers.
The stream is not model state (it is not saved with the model).
"""

from __future__ import annotations

import numpy as np

from dlcore.errors import ConfigError, NotBuiltError
from dlcore.layers.base import Layer


class RandomStreamLayer(Layer):
    SALT: int | None = None  # appended to reseed()'s seed when set

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._rng: np.random.Generator | None = None

    def initialize(self, rng: np.random.Generator) -> None:
        try:
            self._rng = rng.spawn(1)[0]
        except (TypeError, ValueError, AttributeError):
            # A Generator built without a SeedSequence cannot spawn; draw a seed instead.
            self._rng = np.random.default_rng(int(rng.integers(2**63)))

    def reseed(self, seed: int | list[int]) -> None:
        """Restart the stream from `seed` (an int or a list of non-negative ints, e.g.
        [model_seed, rank] so that the workers of a data-parallel job, which share the
        model seed, draw different numbers)."""
        if self.SALT is None:
            key: int | list[int] = seed
        else:
            key = [*(list(seed) if isinstance(seed, list | tuple) else [seed]), self.SALT]
        try:
            self._rng = np.random.default_rng(key)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{type(self).__name__}.reseed: seed must be a non-negative int or a list of "
                f"them. Received: {seed!r}"
            ) from exc

    def stream(self) -> np.random.Generator:
        """The stream a training forward pass draws from; NotBuiltError before initialize."""
        if self._rng is None:
            raise NotBuiltError(
                f"{type(self).__name__} {self.name!r} has no random stream; call "
                "initialize(rng) (Model does) before a training forward pass"
            )
        return self._rng

    def _identity_backprop(self, dY: np.ndarray) -> np.ndarray | None:
        return dY if self.needs_input_grad else None
