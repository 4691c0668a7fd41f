"""Learning-rate schedules: callables from the step counter (0-based) to a learning rate.

Owns the `Schedule` base and its registry, and the concrete schedules: `Constant`,
`WarmupLinearScaling` (Goyal et al. 2017), `StepDecay` and `CosineDecay`. Every
schedule validates its arguments at construction and round-trips through
`schedule_to_config` / `schedule_from_config` (plain JSON). Does not own the step
counter: the optimizer passes its own.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from dlcore.errors import ConfigError

SCHEDULE_REGISTRY: dict[str, type[Schedule]] = {}


class Schedule:
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        SCHEDULE_REGISTRY[cls.__name__] = cls

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        return cls(**config)


class Constant(Schedule):
    def __init__(self, value: float) -> None:
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ConfigError(f"learning rate must be a finite number > 0. Received: {value!r}")
        self.value = float(value)

    def __call__(self, step: int) -> float:
        return self.value

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


def _rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a finite number > 0. Received: {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0. Received: {value!r}")
    return float(value)


def _count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}. Received: {value!r}")
    return int(value)


class WarmupLinearScaling(Schedule):
    """The linear scaling rule with gradual warm-up (Goyal et al. 2017).

    Goyal, Dollar, Girshick et al. 2017, "Accurate, Large Minibatch SGD: Training
    ImageNet in 1 Hour" (arXiv:1706.02677), sections 2.1-2.2: when the minibatch is k
    times `base_batch_size`, the learning rate is k times `base_lr`. To survive the
    first steps the rate starts at `base_lr` and rises by a constant each step,
    reaching the target k * base_lr at step `warmup_steps`:

        lr(t) = base_lr + (target - base_lr) * t / warmup_steps    for t < warmup_steps
        lr(t) = target, or after(t - warmup_steps) when `after` is given

    `after` (e.g. a `CosineDecay(initial=target, ...)`) continues from the target, so
    it must start there; that is checked at construction.
    """

    def __init__(
        self,
        base_lr: float,
        batch_size: int,
        *,
        base_batch_size: int = 256,
        warmup_steps: int,
        after: Schedule | None = None,
    ) -> None:
        self.base_lr = _rate("base_lr", base_lr)
        self.batch_size = _count("batch_size", batch_size, 1)
        self.base_batch_size = _count("base_batch_size", base_batch_size, 1)
        self.warmup_steps = _count("warmup_steps", warmup_steps, 0)
        self.target = self.base_lr * self.batch_size / self.base_batch_size
        if after is not None:
            if not isinstance(after, Schedule):
                raise ConfigError(f"after must be a Schedule or None. Received: {after!r}")
            start = float(after(0))
            if not math.isclose(start, self.target, rel_tol=1e-6):
                raise ConfigError(
                    f"after must start at the scaled learning rate {self.target:g} "
                    f"(base_lr * batch_size / base_batch_size). Received a schedule "
                    f"starting at {start:g}"
                )
        self.after = after

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.base_lr + (self.target - self.base_lr) * step / self.warmup_steps
        if self.after is None:
            return self.target
        return self.after(step - self.warmup_steps)

    def get_config(self) -> dict[str, Any]:
        return {
            "base_lr": self.base_lr,
            "batch_size": self.batch_size,
            "base_batch_size": self.base_batch_size,
            "warmup_steps": self.warmup_steps,
            "after": None if self.after is None else schedule_to_config(self.after),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        config = dict(config)
        if config.get("after") is not None:
            config["after"] = schedule_from_config(config["after"])
        return cls(**config)


class StepDecay(Schedule):
    """lr(t) = initial * gamma ** (t // step_size): torch's StepLR, counted in steps."""

    def __init__(self, initial: float, step_size: int, gamma: float = 0.1) -> None:
        self.initial = _rate("initial", initial)
        self.step_size = _count("step_size", step_size, 1)
        gamma_ok = isinstance(gamma, numbers.Real) and not isinstance(gamma, bool)
        if not (gamma_ok and 0 < gamma <= 1):
            raise ConfigError(f"gamma must be a number in (0, 1]. Received: {gamma!r}")
        self.gamma = float(gamma)

    def __call__(self, step: int) -> float:
        return self.initial * self.gamma ** (step // self.step_size)

    def get_config(self) -> dict[str, Any]:
        return {"initial": self.initial, "step_size": self.step_size, "gamma": self.gamma}


class CosineDecay(Schedule):
    """Cosine decay to `alpha * initial` over `decay_steps`, after an optional warm-up.

    Loshchilov & Hutter 2017, "SGDR: Stochastic Gradient Descent with Warm Restarts"
    (without restarts; the same formula as keras `CosineDecay`). During the first
    `warmup_steps` steps the rate rises linearly, lr(t) = initial * (t + 1) / warmup_steps,
    so it is never 0 and reaches `initial` at the last warm-up step. Then, with
    s = min(t - warmup_steps, decay_steps):

        lr(t) = initial * (alpha + (1 - alpha) * (1 + cos(pi * s / decay_steps)) / 2)
    """

    def __init__(
        self, initial: float, decay_steps: int, alpha: float = 0.0, warmup_steps: int = 0
    ) -> None:
        self.initial = _rate("initial", initial)
        self.decay_steps = _count("decay_steps", decay_steps, 1)
        alpha_ok = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
        if not (alpha_ok and 0 <= alpha <= 1):
            raise ConfigError(f"alpha must be a number in [0, 1]. Received: {alpha!r}")
        self.alpha = float(alpha)
        self.warmup_steps = _count("warmup_steps", warmup_steps, 0)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.initial * (step + 1) / self.warmup_steps
        s = min(step - self.warmup_steps, self.decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / self.decay_steps))
        return self.initial * (self.alpha + (1.0 - self.alpha) * cosine)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial": self.initial,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "warmup_steps": self.warmup_steps,
        }


def as_schedule(value: float | Schedule, what: str = "learning_rate") -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{what} must be a number or a Schedule. Received: {value!r}")
    return Constant(float(value))


def schedule_to_config(s: Schedule) -> dict[str, Any]:
    return {"type": type(s).__name__, "config": s.get_config()}


def schedule_from_config(spec: dict[str, Any]) -> Schedule:
    cls = SCHEDULE_REGISTRY.get(spec.get("type", "")) if isinstance(spec, dict) else None
    if cls is None:
        raise ConfigError(
            f"unknown schedule {spec!r}. Known schedules: {sorted(SCHEDULE_REGISTRY)}"
        )
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ConfigError(f"schedule {spec['type']} config must be a mapping. Received: {config!r}")
    try:
        return cls.from_config(dict(config))
    except TypeError as exc:
        raise ConfigError(f"invalid config for schedule {spec['type']}: {exc}") from exc
