"""Linear: Y = X @ W + b, the GEMM-bound layer.

W is stored (in_features, out_features) so the forward pass is one row-major
GEMM with no transpose. Backprop writes dW = X^T dY and db = sum(dY) straight
into the flat gradient buffer (no temporaries), and skips dX = dY W^T when the
layer is first in the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.backends import Ops
from dlcore.errors import ConfigError
from dlcore.initializers import get_initializer
from dlcore.layers.base import Backprop, Layer
from dlcore.params import ParamBuffer


class Linear(Layer):
    """A fully connected layer, x @ W + b, with `units` outputs; its input width comes
    from the layer before it (or the Model's in_features). `init`: the weights'
    initialiser (he_uniform by default; the bias starts at 0)."""

    def __init__(
        self,
        units: int,
        *,
        use_bias: bool = True,
        init: str = "he_uniform",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if isinstance(units, bool) or not isinstance(units, int | np.integer) or units < 1:
            raise ConfigError(f"Linear: units must be a positive integer. Received: {units!r}")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.init = init
        self.initializer = get_initializer(init)

    def declare(self, params: ParamBuffer, in_features: int) -> int:
        self.in_features = int(in_features)
        self.out_features = self.units
        params.declare(self.pname("W"), (self.in_features, self.units))
        if self.use_bias:
            params.declare(self.pname("b"), (self.units,))
        return self.units

    def bind(self, params: ParamBuffer, ops: Ops) -> None:
        super().bind(params, ops)
        self.W = params.view(self.pname("W"))
        self.dW = params.grad_view(self.pname("W"))
        if self.use_bias:
            self.b = params.view(self.pname("b"))
            self.db = params.grad_view(self.pname("b"))

    def initialize(self, rng: np.random.Generator) -> None:
        self.W[...] = self.initializer(
            rng, self.W.shape, fan_in=self.in_features, fan_out=self.units
        )
        if self.use_bias:
            self.b.fill(0.0)

    def forward(self, X: np.ndarray, training: bool) -> tuple[np.ndarray, Backprop]:
        self.check_input(X)
        ops = self.ops
        Y = ops.gemm(X, self.W)
        if self.use_bias:
            Y += self.b

        def backprop(dY: np.ndarray) -> np.ndarray | None:
            ops.gemm(X, dY, self.dW, trans_a=True)
            if self.use_bias:
                np.sum(dY, axis=0, out=self.db)
            if not self.needs_input_grad:
                return None
            return ops.gemm(dY, self.W, trans_b=True)

        return Y, backprop

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "use_bias": self.use_bias,
            "init": self.init,
            "name": self.name,
        }
