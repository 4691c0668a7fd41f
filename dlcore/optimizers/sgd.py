"""SGD with optional (Nesterov) momentum, following torch.optim.SGD's update exactly.

Owns only the momentum update; the learning-rate schedule, clipping and coupled
(L2) weight decay come from the `Optimizer` base. With g the gradient after weight
decay, mu the momentum and d the dampening, one step is

    buf = g                                  on the first step
    buf = mu * buf + (1 - d) * g             afterwards
    u   = g + mu * buf  (Nesterov)   or   buf
    w   = w - lr * u

Nesterov momentum in this form is Sutskever et al. 2013, "On the importance of
initialization and momentum in deep learning", as PyTorch implements it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.errors import ConfigError
from dlcore.optimizers.base import Optimizer, OptimizerState, ShardContext, check_number
from dlcore.schedules import Schedule


class SGD(Optimizer):
    """Stochastic gradient descent; `momentum=0` keeps no state at all."""

    def __init__(
        self,
        *,
        learning_rate: float | Schedule = 1e-2,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, clip_norm=clip_norm
        )
        self.momentum = check_number("momentum", momentum, 0.0, 1.0)
        # The momentum buffer exists only with momentum; the base builds state from slot_names.
        self.slot_names = ("momentum",) if self.momentum else ()
        self.dampening = check_number("dampening", dampening, 0.0, 1.0, high_inclusive=True)
        if not isinstance(nesterov, bool):
            raise ConfigError(f"nesterov must be True or False. Received: {nesterov!r}")
        if nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ConfigError(
                "nesterov=True needs momentum > 0 and dampening == 0. "
                f"Received momentum={momentum!r}, dampening={dampening!r}"
            )
        self.nesterov = nesterov

    def update_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        lr: float,
        state: OptimizerState,
        shard: ShardContext,
    ) -> None:
        tmp = state.work_array("tmp", param)
        if self.momentum == 0.0:
            param -= np.multiply(grad, lr, out=tmp)
            return
        buf = state.slots["momentum"]
        if state.step == 0:
            np.copyto(buf, grad)
        else:
            buf *= self.momentum
            if self.dampening:
                buf += np.multiply(grad, 1.0 - self.dampening, out=tmp)
            else:
                buf += grad
        if self.nesterov:
            # grad is ours to modify (see Optimizer.step): u = g + mu * buf, in place.
            grad += np.multiply(buf, self.momentum, out=tmp)
            param -= np.multiply(grad, lr, out=tmp)
        else:
            param -= np.multiply(buf, lr, out=tmp)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "dampening": self.dampening,
            "nesterov": self.nesterov,
        }
