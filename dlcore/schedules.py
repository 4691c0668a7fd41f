"""Learning-rate schedules: callables from the step counter (0-based) to a learning rate.

Owns the `Schedule` base and its registry; concrete schedules (constant,
warm-up with the linear scaling rule, step, cosine) are defined here too.
"""

from __future__ import annotations

import math
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


class Constant(Schedule):
    def __init__(self, value: float) -> None:
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ConfigError(f"learning rate must be a finite number > 0. Received: {value!r}")
        self.value = float(value)

    def __call__(self, step: int) -> float:
        return self.value

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


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
    return cls(**spec.get("config", {}))
