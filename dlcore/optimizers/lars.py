"""LARS: layer-wise adaptive rate scaling for large-batch training.

You, Gitman & Ginsburg 2017, "Large Batch Training of Convolutional Networks"
(arXiv:1708.03888), Algorithm 1. For every parameter TENSOR w with gradient g,
global learning rate lr, trust coefficient eta, weight decay wd and momentum mu:

    trust = eta * ||w|| / (||g|| + wd * ||w|| + epsilon)   (1 when ||w|| or ||g|| is 0)
    v     = mu * v + lr * trust * (g + wd * w)
    w     = w - v

Weight decay enters the trust ratio, so LARS adds it itself rather than letting the
`Optimizer` base couple it into the gradient first (`couples_weight_decay` is False).

Sharding: a shard may hold only part of a tensor, so the norms are computed as
per-segment partial sums of squares over `shard.local_segments()`, packed into one
float64 vector [||w_0||^2 .. ||w_n||^2, ||g_0||^2 .. ||g_n||^2] of length
2 * len(segments), and combined with ONE `shard.reduce_sum` call. Every shard makes
that call, even one that overlaps no tensor, because in a distributed job it is a
collective. `exclude_1d=True` leaves 1-D tensors (biases, BatchNorm scales) at
trust 1, as is usual practice; it needs `ShardContext.segment_ndims`
(`ShardContext.for_params` fills it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.errors import ConfigError
from dlcore.optimizers.base import Optimizer, OptimizerState, ShardContext, check_number
from dlcore.schedules import Schedule


class LARS(Optimizer):
    """Momentum SGD with a per-tensor trust ratio (You et al. 2017)."""

    def __init__(
        self,
        *,
        learning_rate: float | Schedule = 0.1,
        momentum: float = 0.9,
        trust_coefficient: float = 0.001,
        weight_decay: float = 0.0,
        epsilon: float = 0.0,
        exclude_1d: bool = False,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, clip_norm=clip_norm
        )
        self.momentum = check_number("momentum", momentum, 0.0, 1.0)
        # The momentum buffer exists only with momentum; the base builds state from slot_names.
        self.slot_names = ("momentum",) if self.momentum else ()
        self.trust_coefficient = check_number(
            "trust_coefficient", trust_coefficient, 0.0, low_inclusive=False
        )
        self.epsilon = check_number("epsilon", epsilon, 0.0)
        if not isinstance(exclude_1d, bool):
            raise ConfigError(f"exclude_1d must be True or False. Received: {exclude_1d!r}")
        self.exclude_1d = exclude_1d

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
        local = self._check_shard(param, shard)
        trust = self.trust_ratios(param, grad, shard, local)
        tmp = state.work_array("tmp", param)
        buf = state.slots.get("momentum")
        for lo, hi, idx in local:
            w, u = param[lo:hi], tmp[lo:hi]
            # u = lr * trust * (g + wd * w)
            if self.weight_decay:
                np.multiply(w, self.weight_decay, out=u)
                u += grad[lo:hi]
            else:
                np.copyto(u, grad[lo:hi])
            u *= lr * float(trust[idx])
            if buf is None:
                w -= u
            else:
                v = buf[lo:hi]
                v *= self.momentum
                v += u
                w -= v

    def trust_ratios(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        shard: ShardContext,
        local: list[tuple[int, int, int]],
    ) -> np.ndarray:
        """The trust ratio of every segment (float64, one per tensor), after ONE reduce_sum."""
        n = len(shard.segments)
        partial = np.zeros(2 * n, dtype=np.float64)
        for lo, hi, idx in local:
            partial[idx] = np.dot(param[lo:hi], param[lo:hi])
            partial[n + idx] = np.dot(grad[lo:hi], grad[lo:hi])
        norms = np.sqrt(shard.reduce_sum(partial))
        w_norm, g_norm = norms[:n], norms[n:]
        adapt = (w_norm > 0) & (g_norm > 0)
        if self.exclude_1d:
            adapt &= np.asarray(shard.segment_ndims) > 1
        denom = g_norm + self.weight_decay * w_norm + self.epsilon
        ratio = self.trust_coefficient * w_norm / np.where(adapt, denom, 1.0)
        return np.where(adapt, ratio, 1.0)

    def _check_shard(self, param: np.ndarray, shard: ShardContext) -> list[tuple[int, int, int]]:
        local = shard.local_segments()
        covered = sum(hi - lo for lo, hi, _ in local)
        if covered != param.size or shard.stop - shard.start != param.size:
            raise ConfigError(
                "LARS needs ShardContext.segments that cover the whole shard "
                f"[{shard.start}, {shard.stop}) of {param.size} elements. Received segments "
                f"covering {covered} elements; build the context with ShardContext.for_params()"
            )
        if self.exclude_1d and len(shard.segment_ndims) != len(shard.segments):
            raise ConfigError(
                "LARS(exclude_1d=True) needs ShardContext.segment_ndims, one per segment. "
                f"Received {len(shard.segment_ndims)} for {len(shard.segments)} segments; "
                "build the context with ShardContext.for_params()"
            )
        return local

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "trust_coefficient": self.trust_coefficient,
            "epsilon": self.epsilon,
            "exclude_1d": self.exclude_1d,
        }
