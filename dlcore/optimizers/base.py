"""Optimizer base: the common part of every update, on FLAT arrays.

Owns: the learning-rate schedule, gradient clipping by global norm, coupled (L2)
weight decay, the step counter, and slot state (momentum, Adam moments). A
subclass implements one `update_step(param, grad, lr, state)` on contiguous 1-D
arrays (keras `BaseOptimizer`, tinygrad `Optimizer`).

Because it works on flat slices, the same code updates a whole model or one
rank's shard of it. Quantities that need the WHOLE vector (the global gradient
norm for clipping, per-tensor norms for LARS) are computed as local partial sums
and combined through `ShardContext.reduce_sum`, which is the identity in one
process and a small all-reduce in a distributed job. Optimizer state is created
for the slice only, so it is sharded, never replicated.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dlcore.errors import ConfigError, ShapeError
from dlcore.params import ParamBuffer
from dlcore.schedules import Schedule, as_schedule, schedule_from_config, schedule_to_config

Reducer = Callable[[np.ndarray], np.ndarray]

OPTIMIZER_REGISTRY: dict[str, type[Optimizer]] = {}


def _identity(x: np.ndarray) -> np.ndarray:
    return x


@dataclass(frozen=True)
class ShardContext:
    """Which part of the full flat parameter vector an optimizer step sees.

    start/stop: the slice [start, stop) of the full vector.
    segments: [start, stop) of every parameter tensor in FULL-vector coordinates
        (from ParamBuffer.specs); used by per-tensor methods such as LARS.
    reduce_sum: sums a small float64 array over all shards (identity when unsharded).
    segment_ndims: the number of dimensions of each segment's tensor, parallel to
        `segments` (empty when unknown); LARS uses it to leave 1-D tensors unadapted.
    """

    start: int
    stop: int
    segments: tuple[tuple[int, int], ...] = ()
    reduce_sum: Reducer = _identity
    segment_ndims: tuple[int, ...] = ()

    @classmethod
    def whole(cls, size: int, segments: tuple[tuple[int, int], ...] = ()) -> ShardContext:
        return cls(0, size, segments or ((0, size),))

    @classmethod
    def for_params(
        cls,
        params: ParamBuffer,
        start: int = 0,
        stop: int | None = None,
        reduce_sum: Reducer = _identity,
    ) -> ShardContext:
        """The context for [start, stop) of `params`, with one segment per named tensor."""
        stop = params.size if stop is None else stop
        if not 0 <= start <= stop <= params.size:
            raise ConfigError(
                f"shard bounds must satisfy 0 <= start <= stop <= {params.size}. "
                f"Received start={start!r}, stop={stop!r}"
            )
        specs = params.specs
        segments = tuple((s.offset, s.offset + s.size) for s in specs)
        ndims = tuple(len(s.shape) for s in specs)
        return cls(start, stop, segments, reduce_sum, ndims)

    def local_segments(self) -> list[tuple[int, int, int]]:
        """(local_start, local_stop, segment_index) for each tensor overlapping this shard."""
        out = []
        for idx, (s, e) in enumerate(self.segments):
            lo, hi = max(s, self.start), min(e, self.stop)
            if lo < hi:
                out.append((lo - self.start, hi - self.start, idx))
        return out


@dataclass
class OptimizerState:
    """Step counter + named flat slot arrays, all of the shard's length.

    `scratch` holds work arrays that subclasses reuse between steps so the hot path
    allocates nothing; it is not state (never saved, not compared).
    """

    step: int = 0
    slots: dict[str, np.ndarray] = field(default_factory=dict)
    scratch: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def work_array(self, name: str, like: np.ndarray) -> np.ndarray:
        """A reusable uninitialised array with the size and dtype of `like`."""
        buf = self.scratch.get(name)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = np.empty(like.shape, dtype=like.dtype)
            self.scratch[name] = buf
        return buf


class Optimizer:
    """Base class. Subclasses set `slot_names` and implement `update_step`."""

    slot_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        OPTIMIZER_REGISTRY[cls.__name__] = cls

    def __init__(
        self,
        *,
        learning_rate: float | Schedule = 1e-3,
        weight_decay: float = 0.0,
        clip_norm: float | None = None,
    ) -> None:
        self.learning_rate = as_schedule(learning_rate, "learning_rate")
        # check_number: a bool was taken as a number (weight_decay=True trained with a
        # decay of 1.0) while a NumPy scalar (np.float32(0.1)) was refused
        self.weight_decay = check_number("weight_decay", weight_decay, 0.0)
        if clip_norm is not None:
            clip_norm = check_number(
                "clip_norm", clip_norm, 0.0, low_inclusive=False, high_inclusive=True
            )
        self.clip_norm = clip_norm

    # -- state --------------------------------------------------------------------------
    def init_state(self, size: int, dtype: np.dtype | type = np.float32) -> OptimizerState:
        return OptimizerState(
            step=0, slots={n: np.zeros(size, dtype=dtype) for n in self.slot_names}
        )

    # -- the step ---------------------------------------------------------------------
    def step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        state: OptimizerState,
        shard: ShardContext | None = None,
    ) -> None:
        """Update `param` in place from `grad` (both flat, same length). May modify `grad`."""
        if param.ndim != 1 or grad.shape != param.shape:
            raise ShapeError(
                f"optimizer step needs flat param and grad of equal length. "
                f"Received param {param.shape}, grad {grad.shape}"
            )
        shard = shard or ShardContext.whole(param.size)
        if self.clip_norm is not None:
            norm = self.global_grad_norm(grad, shard)
            if norm > self.clip_norm:
                grad *= self.clip_norm / (norm + 1e-12)
        if self.weight_decay and self.couples_weight_decay():
            decay = np.multiply(param, self.weight_decay, out=state.work_array("tmp", param))
            grad += decay
        lr = float(self.learning_rate(state.step))
        self.update_step(param, grad, lr, state, shard)
        state.step += 1

    def global_grad_norm(self, grad: np.ndarray, shard: ShardContext) -> float:
        local = np.array([np.dot(grad, grad)], dtype=np.float64)
        return float(math.sqrt(shard.reduce_sum(local)[0]))

    def couples_weight_decay(self) -> bool:
        """True: weight decay is added to the gradient (L2). AdamW overrides to decouple it."""
        return True

    def update_step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        lr: float,
        state: OptimizerState,
        shard: ShardContext,
    ) -> None:
        raise NotImplementedError

    # -- config ------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": schedule_to_config(self.learning_rate),
            "weight_decay": self.weight_decay,
            "clip_norm": self.clip_norm,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedule_from_config(config["learning_rate"])
        return cls(**config)


def check_number(
    name: str,
    value: object,
    low: float,
    high: float = math.inf,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> float:
    """`value` as a float if it is a real number in the interval, else a ConfigError naming it."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        x = float(value)  # type: ignore[arg-type]
        ok = (x >= low if low_inclusive else x > low) and (
            x <= high if high_inclusive else x < high
        )
    if not ok:
        interval = (
            f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"
        )
        raise ConfigError(f"{name} must be a number in {interval}. Received: {value!r}")
    return float(value)  # type: ignore[arg-type]


def optimizer_to_config(opt: Optimizer) -> dict[str, Any]:
    return {"type": type(opt).__name__, "config": opt.get_config()}


def optimizer_from_config(spec: dict[str, Any]) -> Optimizer:
    cls = OPTIMIZER_REGISTRY.get(spec.get("type", "")) if isinstance(spec, dict) else None
    if cls is None:
        raise ConfigError(
            f"unknown optimizer {spec!r}. Known optimizers: {sorted(OPTIMIZER_REGISTRY)}"
        )
    try:
        return cls.from_config(spec.get("config", {}))
    except TypeError as exc:
        raise ConfigError(f"invalid config for optimizer {spec['type']}: {exc}") from exc
