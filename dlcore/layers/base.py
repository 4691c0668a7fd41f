"""Layer: the lifecycle every dlcore layer follows.

1. `__init__` validates arguments (keyword-only; errors name the argument and value).
2. `declare(params, in_features)` registers parameters in the model's ParamBuffer
   under `"<layer name>.<param>"` and returns the layer's output width.
3. `bind(params, ops)` takes views into the allocated flat buffers.
4. `initialize(rng)` fills the parameter views.
5. `forward(X, training)` returns `(Y, backprop)`; `backprop(dY)` WRITES (does not
   accumulate) this layer's weight gradients into the flat gradient buffer and
   returns dX, or None when `needs_input_grad` is False (the first layer of a model
   never needs dX, which saves one GEMM per step).

Non-trainable state (BatchNorm running statistics) lives in `state()` /
`load_state()`, outside the ParamBuffer, so the optimizer and all-reduce never see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from dlcore.backends import Ops
from dlcore.errors import ConfigError, NotBuiltError, ShapeError
from dlcore.params import ParamBuffer

Backprop = Callable[[np.ndarray], "np.ndarray | None"]

LAYER_REGISTRY: dict[str, type[Layer]] = {}


class Layer:
    """Base class. Subclasses override `declare`/`bind`/`initialize` if they have weights."""

    type_name: ClassVar[str] = ""
    # True for a layer without parameters or randomness whose every output row is a
    # function of its input row and its state alone, in training as in inference
    # (Standardize, PiecewiseLinear): a trainer may then run it once per row of a fixed
    # input instead of once per minibatch (dlcore.fixed_input.EncodedRows).
    rowwise_fixed: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type_name = cls.__name__
        LAYER_REGISTRY[cls.__name__] = cls

    def __init__(self, *, name: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name or "." in name):
            raise ConfigError(
                f"layer name must be a non-empty string without '.'. Received: {name!r}"
            )
        self.name = name
        self.needs_input_grad = True
        self.in_features: int | None = None
        self.out_features: int | None = None
        self.ops: Ops | None = None

    # -- lifecycle --------------------------------------------------------------------
    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = int(in_features)
        self.out_features = self.in_features
        return self.out_features

    def bind(self, params: ParamBuffer, ops: Ops) -> None:
        self.ops = ops
        self.dtype = params.dtype

    def initialize(self, rng: np.random.Generator) -> None:
        """Fill parameter views. Layers without weights do nothing."""

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        raise NotImplementedError

    # -- helpers for subclasses ------------------------------------------------------
    def pname(self, param: str) -> str:
        if self.name is None:
            raise NotBuiltError(f"{type(self).__name__} has no name yet; build it inside a Model")
        return f"{self.name}.{param}"

    def check_input(self, X: np.ndarray) -> None:
        if self.ops is None:
            raise NotBuiltError(f"layer {self.name!r} is not built; wrap it in Model(...) first")
        if X.ndim != 2 or X.shape[1] != self.in_features:
            raise ShapeError(
                f"layer {self.name!r} expects input of shape (batch, {self.in_features}). "
                f"Received {X.shape}"
            )

    # -- state and config ------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Non-trainable arrays to save with the model (not in the ParamBuffer)."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if state:
            raise ConfigError(f"layer {self.name!r} has no state but received keys {sorted(state)}")

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def children(self) -> list[Layer]:
        return []


def layer_to_config(layer: Layer) -> dict[str, Any]:
    return {"type": layer.type_name, "config": layer.get_config()}


def layer_from_config(spec: dict[str, Any]) -> Layer:
    if not isinstance(spec, dict) or "type" not in spec or "config" not in spec:
        raise ConfigError(f"a layer config needs keys 'type' and 'config'. Received: {spec!r}")
    cls = LAYER_REGISTRY.get(spec["type"])
    if cls is None:
        raise ConfigError(
            f"unknown layer type {spec['type']!r}. Known types: {sorted(LAYER_REGISTRY)}"
        )
    if not isinstance(spec["config"], dict):
        raise ConfigError(
            f"layer {spec['type']} config must be a mapping. Received: {spec['config']!r}"
        )
    try:
        return cls.from_config(dict(spec["config"]))
    except TypeError as exc:
        raise ConfigError(f"invalid config for layer {spec['type']}: {exc}") from exc
