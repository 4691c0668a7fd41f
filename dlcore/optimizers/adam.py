"""Adam and AdamW, following torch.optim.Adam / torch.optim.AdamW's updates exactly.

Adam: Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization". With t the
1-based step and g the gradient (after coupled L2 weight decay, for Adam):

    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    w = w - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

eps is added AFTER the bias-corrected square root, as in PyTorch (not the paper's
folded form). AdamW: Loshchilov & Hutter 2019, "Decoupled Weight Decay
Regularization": the weight decay is not added to the gradient but applied to the
weights first, w = w * (1 - lr * wd), then the Adam update runs on the raw gradient.

Owns only the moment update. The hot path runs 13 in-place ufunc passes over one
reusable work array (`OptimizerState.work_array`) and allocates nothing per step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dlcore.optimizers.base import Optimizer, OptimizerState, ShardContext, check_number
from dlcore.schedules import Schedule


class Adam(Optimizer):
    """Adam with PyTorch's defaults; `weight_decay` is coupled (added to the gradient)."""

    slot_names = ("m", "v")

    def __init__(
        self,
        *,
        learning_rate: float | Schedule = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, clip_norm=clip_norm
        )
        self.beta_1 = check_number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = check_number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = check_number("epsilon", epsilon, 0.0, low_inclusive=False)

    def update_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        lr: float,
        state: OptimizerState,
        shard: ShardContext,
    ) -> None:
        b1, b2 = self.beta_1, self.beta_2
        m, v = state.slots["m"], state.slots["v"]
        tmp = state.work_array("tmp", param)
        t = state.step + 1
        # First and second moments. Python floats stay float32 next to float32 arrays.
        m *= b1
        m += np.multiply(grad, 1.0 - b1, out=tmp)
        v *= b2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        # Bias corrections as in torch: step_size = lr / bc1, denom = sqrt(v)/sqrt(bc2) + eps.
        step_size = lr / (1.0 - b1**t)
        denom = np.sqrt(v, out=tmp)
        denom /= math.sqrt(1.0 - b2**t)
        denom += self.epsilon
        update = np.divide(m, denom, out=tmp)
        update *= step_size
        param -= update

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (PyTorch's default `weight_decay=0.01`)."""

    def __init__(
        self,
        *,
        learning_rate: float | Schedule = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            weight_decay=weight_decay,
            clip_norm=clip_norm,
        )

    def couples_weight_decay(self) -> bool:
        return False

    def update_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        lr: float,
        state: OptimizerState,
        shard: ShardContext,
    ) -> None:
        if self.weight_decay:
            param *= 1.0 - lr * self.weight_decay
        super().update_step(param, grad, lr, state, shard)
