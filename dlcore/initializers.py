"""Weight initialisers, looked up by name.

Each takes (rng, shape, fan_in=, fan_out=) and returns a float64 array that the
caller copies into its parameter view (the view's dtype decides the precision).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dlcore.errors import ConfigError

Initializer = Callable[..., np.ndarray]


def he_uniform(rng: np.random.Generator, shape, *, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def he_normal(rng: np.random.Generator, shape, *, fan_in: int, fan_out: int) -> np.ndarray:
    return rng.standard_normal(size=shape) * math.sqrt(2.0 / fan_in)


def glorot_uniform(rng: np.random.Generator, shape, *, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def lecun_uniform(rng: np.random.Generator, shape, *, fan_in: int, fan_out: int) -> np.ndarray:
    """PyTorch nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    limit = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-limit, limit, size=shape)


def normal_001(rng: np.random.Generator, shape, *, fan_in: int, fan_out: int) -> np.ndarray:
    return rng.standard_normal(size=shape) * 0.01


def zeros(rng: np.random.Generator, shape, *, fan_in: int, fan_out: int) -> np.ndarray:
    return np.zeros(shape)


INITIALIZERS: dict[str, Initializer] = {
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "glorot_uniform": glorot_uniform,
    "lecun_uniform": lecun_uniform,
    "normal": normal_001,
    "zeros": zeros,
}


def get_initializer(name: str) -> Initializer:
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown initializer {name!r}. Expected one of: {', '.join(sorted(INITIALIZERS))}"
        ) from None
