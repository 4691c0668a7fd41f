"""ParamBuffer: every trainable weight of a model in ONE contiguous float32 vector.

Owns: the flat `data` vector, its twin `grad` vector with the same layout, and the
named views into both. Layers declare their parameters (name + shape), the buffer
allocates once, and layers then hold views. Because the whole model is one array,
the all-reduce, the optimizer and the checkpoint each see exactly one array
(BigDL's `getParameters()`, tinygrad's fused optimizer), and a distributed worker
can own any contiguous slice of it.

Does not own: initialisation (layers do it through their views) or non-trainable
state such as BatchNorm running statistics (layers keep those as buffers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlcore.errors import ConfigError, NotBuiltError, ShapeError


@dataclass(frozen=True)
class ParamSpec:
    """Where one named parameter lives inside the flat vector."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class ParamBuffer:
    """A flat parameter vector plus a same-layout gradient vector.

    Lifecycle: `declare()` each parameter, `allocate()` once, then `view()` /
    `grad_view()` hand out reshaped views that alias the flat arrays.
    """

    def __init__(self, dtype: np.dtype | type = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ConfigError(f"ParamBuffer dtype must be a float type. Received: {self.dtype}")
        self._specs: dict[str, ParamSpec] = {}
        self._size = 0
        self._data: np.ndarray | None = None
        self._grad: np.ndarray | None = None

    # -- declaration -------------------------------------------------------------
    def declare(self, name: str, shape: tuple[int, ...]) -> ParamSpec:
        if self._data is not None:
            raise ConfigError(f"cannot declare parameter {name!r}: the buffer is already allocated")
        if name in self._specs:
            raise ConfigError(f"parameter name {name!r} is declared twice; names must be unique")
        shape = tuple(int(s) for s in shape)
        if any(s <= 0 for s in shape):
            raise ConfigError(
                f"parameter {name!r} needs positive dimensions. Received shape {shape}"
            )
        spec = ParamSpec(name=name, shape=shape, offset=self._size)
        self._specs[name] = spec
        self._size += spec.size
        return spec

    def allocate(self) -> None:
        if self._data is not None:
            raise ConfigError("ParamBuffer.allocate() called twice")
        self._data = np.zeros(self._size, dtype=self.dtype)
        self._grad = np.zeros(self._size, dtype=self.dtype)

    # -- access ---------------------------------------------------------------------
    @property
    def allocated(self) -> bool:
        return self._data is not None

    @property
    def size(self) -> int:
        return self._size

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            raise NotBuiltError(
                "ParamBuffer is not allocated yet; call allocate() (or model.build())"
            )
        return self._data

    @property
    def grad(self) -> np.ndarray:
        if self._grad is None:
            raise NotBuiltError(
                "ParamBuffer is not allocated yet; call allocate() (or model.build())"
            )
        return self._grad

    @property
    def specs(self) -> tuple[ParamSpec, ...]:
        return tuple(self._specs.values())

    def spec(self, name: str) -> ParamSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise ConfigError(
                f"unknown parameter {name!r}. Known parameters: {sorted(self._specs)}"
            ) from None

    def view(self, name: str) -> np.ndarray:
        spec = self.spec(name)
        return self.data[spec.offset : spec.offset + spec.size].reshape(spec.shape)

    def grad_view(self, name: str) -> np.ndarray:
        spec = self.spec(name)
        return self.grad[spec.offset : spec.offset + spec.size].reshape(spec.shape)

    def zero_grad(self) -> None:
        self.grad.fill(0.0)

    def set_data(self, values: np.ndarray) -> None:
        """Copy a flat vector of the right length into the parameters (no re-binding needed)."""
        values = np.asarray(values)
        if values.shape != (self._size,):
            raise ShapeError(
                f"set_data expects a flat vector of length {self._size}. Received shape {values.shape}"
            )
        np.copyto(self.data, values, casting="same_kind")

    def as_dict(self) -> dict[str, np.ndarray]:
        """Copies of every named parameter, for serialisation."""
        return {name: self.view(name).copy() for name in self._specs}


def shard_bounds(length: int, world_size: int, rank: int) -> tuple[int, int]:
    """The [start, stop) slice of a flat vector of `length` owned by `rank` of `world_size`.

    Slices are contiguous, cover the vector exactly once, and differ in size by at
    most one element (the first `length % world_size` ranks get one extra).
    """
    if world_size < 1:
        raise ConfigError(f"world_size must be >= 1. Received: {world_size}")
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, {world_size}). Received: {rank}")
    if length < 0:
        raise ConfigError(f"length must be >= 0. Received: {length}")
    base, extra = divmod(length, world_size)
    start = rank * base + min(rank, extra)
    stop = start + base + (1 if rank < extra else 0)
    return start, stop
