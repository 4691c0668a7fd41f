"""Sequential: a chain of layers, itself a Layer."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.backends import Ops
from dlcore.errors import ConfigError
from dlcore.layers.base import Backprop, Layer, layer_from_config, layer_to_config
from dlcore.params import ParamBuffer


class Sequential(Layer):
    """The given layers applied in order, each reading the one before's output."""

    def __init__(self, layers: list[Layer], *, name: str | None = None) -> None:
        super().__init__(name=name)
        layers = list(layers)
        if not layers or not all(isinstance(x, Layer) for x in layers):
            raise ConfigError(
                f"Sequential needs a non-empty list of Layer objects. Received: {layers!r}"
            )
        self.layers = layers

    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = int(in_features)
        prefix = f"{self.name}/" if self.name else ""
        width = self.in_features
        self._declares_params = []
        for i, layer in enumerate(self.layers):
            if layer.name is None:
                layer.name = f"{prefix}{i}_{type(layer).__name__.lower()}"
            before = len(params.specs)
            width = layer.declare(params, width)
            self._declares_params.append(len(params.specs) > before)
        self.out_features = width
        return width

    def bind(self, params: ParamBuffer, ops: Ops) -> None:
        """A layer computes its input gradient only when something before it needs one: the
        Sequential's own input, or a layer with parameters. So the layers ahead of the
        first trainable one (Standardize, an input encoding, ...) and that one skip dX."""
        super().bind(params, ops)
        needs = self.needs_input_grad
        for layer, trainable in zip(self.layers, self._declares_params, strict=True):
            layer.needs_input_grad = needs
            layer.bind(params, ops)
            needs = needs or trainable

    def initialize(self, rng: np.random.Generator) -> None:
        for layer in self.layers:
            layer.initialize(rng)

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        backprops: list[Backprop] = []
        for layer in self.layers:
            X, bp = layer.forward(X, training)
            backprops.append(bp)

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            for bp in reversed(backprops):
                dY = bp(dY)
            return dY

        return X, backprop

    def state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for layer in self.layers:
            for key, value in layer.state().items():
                out[f"{layer.name}.{key}"] = value
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        remaining = dict(state)
        for layer in self.layers:
            prefix = f"{layer.name}."
            own = {
                k[len(prefix) :]: remaining.pop(k) for k in list(remaining) if k.startswith(prefix)
            }
            layer.load_state(own)
        if remaining:
            raise ConfigError(f"state keys match no layer: {sorted(remaining)}")

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "layers": [layer_to_config(x) for x in self.layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        layers = [layer_from_config(x) for x in config.get("layers", [])]
        return cls(layers, name=config.get("name"))

    def children(self) -> list[Layer]:
        return list(self.layers)
