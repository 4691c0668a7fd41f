"""Trainer callbacks: hooks called at epoch/batch boundaries.

Owns: the Callback protocol, EarlyStopping (with restore of the best weights)
and History. A callback may stop training by setting `trainer.stop_training`.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcore.errors import ConfigError

if TYPE_CHECKING:
    from dlcore.training.trainer import Trainer

logger = logging.getLogger(__name__)


class Callback:
    def on_train_begin(self, trainer: Trainer) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass


class History(Callback):
    """Collects the per-epoch logs; `trainer.fit` returns it."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append({"epoch": epoch, **logs})

    def metric(self, name: str) -> list[float]:
        return [e[name] for e in self.epochs if name in e]


_MODES = {"val_loss": "min", "loss": "min", "val_roc_auc": "max", "val_average_precision": "max"}


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs."""

    def __init__(
        self,
        *,
        monitor: str = "val_loss",
        patience: int = 3,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
    ) -> None:
        if monitor not in _MODES:
            raise ConfigError(
                f"EarlyStopping: monitor must be one of {sorted(_MODES)}. Received: {monitor!r}"
            )
        # numbers.Integral: a NumPy int (np.int64(5)) was refused while min_delta and the
        # optimizers' settings take NumPy scalars; a bool (np.True_ too) is not a count
        if (
            isinstance(patience, bool | np.bool_)
            or not isinstance(patience, numbers.Integral)
            or patience < 1
        ):
            raise ConfigError(
                f"EarlyStopping: patience must be an integer >= 1. Received: {patience!r}"
            )
        # a NaN passed `min_delta < 0`, and then no epoch ever improved: training stopped
        # after `patience` epochs and kept the last weights, restoring nothing
        if (
            isinstance(min_delta, bool)
            or not isinstance(min_delta, numbers.Real)
            or not (math.isfinite(min_delta) and min_delta >= 0)
        ):
            raise ConfigError(
                f"EarlyStopping: min_delta must be a finite number >= 0. Received: {min_delta!r}"
            )
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.sign = -1.0 if _MODES[monitor] == "min" else 1.0
        self.best = -math.inf
        self.best_epoch = -1
        self.best_weights: np.ndarray | None = None
        self.best_state: dict[str, Any] | None = None
        self.wait = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        self.best, self.best_epoch, self.wait, self.best_weights = -math.inf, -1, 0, None

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None or math.isnan(value):
            return
        score = self.sign * value
        if score > self.best + self.min_delta:
            self.best, self.best_epoch, self.wait = score, epoch, 0
            if self.restore_best_weights:
                self.best_weights = trainer.model.params.data.copy()
                self.best_state = {k: v.copy() for k, v in trainer.model.layer.state().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            logger.info(
                "early stopping at epoch %d: best %s at epoch %d",
                epoch,
                self.monitor,
                self.best_epoch,
            )
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_weights(self.best_weights, self.best_state)
