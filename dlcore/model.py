"""Model: a built layer graph bound to one ParamBuffer and one backend.

Owns: building (declare -> allocate -> bind -> initialize, deterministic for a
seed), the flat parameters, and the JSON architecture. Does not own: training
(dlcore.training), saving (dlcore.serialization).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.backends import Ops, get_ops
from dlcore.errors import ConfigError, ShapeError
from dlcore.layers.base import Backprop, Layer, layer_from_config, layer_to_config
from dlcore.layers.embedding import relocate_id_error
from dlcore.params import ParamBuffer


class Model:
    """A network and its weights: `layer` (e.g. a Sequential) declared for `in_features`
    inputs, its parameters in one flat ParamBuffer of `dtype` (float32 by default),
    initialised from `seed`. `predict(X)` returns the raw outputs (logits for a fraud
    model) for a (batch, in_features) array; `dlcore.serialization.save_model` /
    `load_model` write and read it as model.json + .npz arrays (never pickled)."""

    def __init__(
        self,
        layer: Layer,
        *,
        in_features: int,
        seed: int = 0,
        dtype: str | np.dtype | type = "float32",
        ops: Ops | None = None,
    ) -> None:
        if not isinstance(layer, Layer):
            raise ConfigError(f"Model needs a Layer. Received: {type(layer).__name__}")
        if not isinstance(in_features, int | np.integer) or in_features < 1:
            raise ConfigError(f"in_features must be a positive integer. Received: {in_features!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            # numpy's default_rng said only "expected non-negative integer"
            raise ConfigError(f"seed must be an integer >= 0. Received: {seed!r}")
        self.layer = layer
        self.in_features = int(in_features)
        self.seed = int(seed)
        self.params = ParamBuffer(np.dtype(dtype))
        self.ops = ops or get_ops()
        if layer.name is None:
            layer.name = "model"
        self.out_features = layer.declare(self.params, self.in_features)
        self.params.allocate()
        layer.needs_input_grad = False
        layer.bind(self.params, self.ops)
        layer.initialize(np.random.default_rng(self.seed))

    @property
    def dtype(self) -> np.dtype:
        return self.params.dtype

    def _as_input(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if X.ndim != 2 or X.shape[1] != self.in_features:
            raise ShapeError(
                f"model expects input of shape (batch, {self.in_features}). Received {X.shape}"
            )
        return X

    def forward(self, X: np.ndarray, training: bool = True) -> tuple[np.ndarray, Backprop]:
        return self.layer.forward(self._as_input(X), training)

    def load_weights(
        self, params: np.ndarray, layer_state: dict[str, np.ndarray] | None = None
    ) -> None:
        """Copy a flat parameter vector in, and non-trainable layer state when given."""
        self.params.set_data(params)
        if layer_state:
            self.layer.load_state(layer_state)

    def predict(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Raw model outputs (logits for a classifier) in inference mode."""
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int | np.integer)
            or batch_size < 1
        ):
            # a negative one returned 0 rows for any input, 0 raised range()'s ValueError
            raise ConfigError(f"batch_size must be an integer >= 1. Received: {batch_size!r}")
        X = self._as_input(X)
        outs = []
        for i in range(0, len(X), batch_size):
            try:
                outs.append(self.layer.forward(X[i : i + batch_size], False)[0])
            except ShapeError as exc:  # an id error names rows of the slice: the batch's
                if len(X) <= batch_size:
                    raise
                where = np.arange(i, min(i + batch_size, len(X)))
                raise relocate_id_error(exc, where, len(X)) from None
        if not outs:
            return np.zeros((0, self.out_features), dtype=self.dtype)
        return np.concatenate(outs, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {
            "format": "dlcore.model/1",
            "in_features": self.in_features,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "layer": layer_to_config(self.layer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], *, ops: Ops | None = None) -> Model:
        for key in ("in_features", "layer"):
            if key not in config:
                raise ConfigError(f"model config is missing key {key!r}")
        return cls(
            layer_from_config(config["layer"]),
            in_features=config["in_features"],
            seed=config.get("seed", 0),
            dtype=config.get("dtype", "float32"),
            ops=ops,
        )
