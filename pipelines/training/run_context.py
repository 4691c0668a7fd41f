"""What every step of one training run reads and the phase clock it keeps.

Owns RunContext (the config, the run's name and tracker, the feature names and vector
column, the time splits, the clock), Ensembles (the ensembles a run trained and what the
report says of them), Laps (seconds per phase) and `window_rows`. It runs nothing: the
steps live in pipelines.training.members, final_model, scored_windows and report, their
order in pipelines.training.pipeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fraud_app.config import AppConfig


class Laps:
    """Seconds per phase of a training run, for the report (where the step's time goes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.monotonic()

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self._t, 2)
        self._t = now


@dataclass(frozen=True)
class RunContext:
    """What every step of one training run reads: the config, the run's name and tracker,
    the feature names and vector column, the time splits, and the phase clock."""

    config: AppConfig
    run: str
    tracker: Any
    names: list[str]
    vector: str
    splits: Any  # SplitResult
    lap: Laps
    started: float  # time.monotonic() when the run started

    @property
    def checkpoints(self) -> str:
        return str(self.config.paths.local("checkpoints") / self.run)


@dataclass(frozen=True)
class Ensembles:
    """The ensembles a run trained: the members early stopping selected (`fitted`), the
    refit on train + validation when configured, and what the report says of them."""

    fitted: Any  # EnsembleTraining
    balancing: dict[str, Any]  # the balanced subsets' summary
    feature_checks: Any  # constant / near-constant in the training window
    val: Any  # nodes.ValidationWindow on the driver, or None
    refit: Any = None  # EnsembleTraining
    refit_summary: dict[str, Any] | None = None

    @property
    def final(self):
        return self.refit or self.fitted


def window_rows(splits, *windows: str) -> int:
    """Rows of these time windows, from the splits' summary (counted when splitting)."""
    return sum(splits.summary["windows"][w]["rows"] for w in windows)
