"""Single-process Trainer: epochs of shuffled minibatches, validation, callbacks.

Owns: the epoch loop, shuffling (one permutation per epoch, deterministic for
the seed), the train step (forward -> loss -> backprop into the flat gradient ->
optimizer step on the flat vector), and validation metrics (loss, ROC AUC,
average precision). Does not own: distribution (fraud_app.spark drives
`dlcore.collective` with the same `train_step` building blocks), or saving.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcore.errors import ConfigError, DivergedError, ShapeError
from dlcore.layers.batchnorm import BatchNorm1d
from dlcore.losses import sigmoid
from dlcore.metrics import average_precision, roc_auc
from dlcore.model import Model
from dlcore.optimizers.base import Optimizer, OptimizerState, ShardContext
from dlcore.training.callbacks import Callback, History

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerConfig:
    """Single-process training: `epochs` passes over the data in minibatches of
    `batch_size` rows, reshuffled each epoch from `seed` when `shuffle` (else in order);
    `drop_last` leaves out an epoch's last, smaller batch."""

    epochs: int = 10
    batch_size: int = 1024
    shuffle: bool = True
    seed: int = 0
    drop_last: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"TrainerConfig.{name} must be an integer >= 1. Received: {value!r}"
                )
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            # numpy's default_rng said only "expected non-negative integer"
            raise ConfigError(f"TrainerConfig.seed must be an integer >= 0. Received: {seed!r}")


class Trainer:
    """Trains `model` in this process: minibatch steps of `loss` (e.g. BCEWithLogits)
    with `optimizer` (e.g. Adam), as `config` (TrainerConfig) says, calling `callbacks`
    (dlcore.training.callbacks: early stopping, ...) after each epoch."""

    def __init__(
        self,
        model: Model,
        loss,
        optimizer: Optimizer,
        config: TrainerConfig | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.config = config or TrainerConfig()
        self.callbacks = list(callbacks)
        self.opt_state: OptimizerState = optimizer.init_state(model.params.size, model.dtype)
        # One segment per named tensor, so per-tensor methods (LARS) see the real layout.
        self._shard = ShardContext.for_params(model.params)
        self.stop_training = False
        self._rng = np.random.default_rng(self.config.seed)

    # -- one step ---------------------------------------------------------------------
    def train_step(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> float:
        logits, backprop = self.model.forward(X, training=True)
        value, dlogits = self.loss(logits, y, w)
        backprop(dlogits)
        params = self.model.params
        self.optimizer.step(params.data, params.grad, self.opt_state, self._shard)
        return float(value)

    # -- epochs --------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> History:
        """Train on X (rows x in_features) and labels y, optionally weighted per row;
        with `validation_data` = (X_val, y_val) each epoch also logs val_loss,
        val_roc_auc and val_average_precision. Returns the History: `.epochs`, one dict
        of logs per epoch, and `.metric(name)`. A loss or weights that become NaN or
        infinite stop it with DivergedError naming the epoch and step."""
        X, y, w = self._check_data(X, y, sample_weight)
        if w is not None and not w.any():
            # every step's gradient was 0: the initial weights came back as a trained model
            given = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            why = (
                f"is 0 for every one of the {len(w)} rows"
                if not given.any()
                else f"rounds to 0 in the model's dtype {w.dtype} for every one of the "
                f"{len(w)} rows (largest given {given.max():g}; the smallest positive "
                f"{w.dtype} is {np.finfo(w.dtype).smallest_subnormal:g}): scale the "
                "weights up"
            )
            raise ConfigError(
                f"sample_weight {why}: no row counts, so nothing can be learned. Pass "
                "weights with at least one row > 0"
            )
        self._check_last_batch(len(X))
        history = History()
        callbacks = [history, *self.callbacks]
        self.stop_training = False
        for cb in callbacks:
            cb.on_train_begin(self)
        for epoch in range(self.config.epochs):
            t0 = time.perf_counter()
            train_loss, n_seen = self._run_epoch(X, y, w, epoch)
            logs = {"loss": train_loss, "epoch_seconds": time.perf_counter() - t0}
            logs["samples_per_second"] = n_seen / max(logs["epoch_seconds"], 1e-9)
            if validation_data is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(*validation_data).items()})
            logger.info("epoch %d: %s", epoch, " ".join(f"{k}={v:.5g}" for k, v in logs.items()))
            for cb in callbacks:
                cb.on_epoch_end(self, epoch, logs)
            if self.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end(self)
        return history

    def _check_last_batch(self, n: int) -> None:
        """A last batch of 1 row stopped a model with BatchNorm1d with "needs at least 2
        rows per batch" after the epoch's other steps, saying nothing of the batch size."""
        cfg = self.config
        if n < 2 or n % cfg.batch_size != 1 or (cfg.drop_last and n >= cfg.batch_size):
            return
        layers, batchnorm = [self.model.layer], None
        while layers and batchnorm is None:
            layer = layers.pop()
            batchnorm = layer if isinstance(layer, BatchNorm1d) else None
            layers += layer.children()
        if batchnorm is not None:
            raise ConfigError(
                f"{n} rows in batches of {cfg.batch_size} leave a last batch of 1 row each "
                f"epoch, which BatchNorm1d {batchnorm.name!r} cannot train on (a variance "
                "needs 2 rows): set TrainerConfig(drop_last=True) or another batch_size"
            )

    def _diverged(self, epoch: int, step: int, loss: float) -> None:
        weights = self.model.params.data
        bad = int(weights.size - np.count_nonzero(np.isfinite(weights)))
        advice = (
            "Lower the learning rate, clip the gradients (clip_norm) or check the scale of "
            "the features"
        )
        if weights.dtype.itemsize < 4:  # float16 overflows past 65504: no learning rate fixes it
            top = np.finfo(weights.dtype).max
            advice = (
                f"The model computes in {weights.dtype} (nothing above {top:g}): build it "
                "with dtype=np.float32, or scale the features down; else lower the learning "
                "rate or clip the gradients (clip_norm)"
            )
        raise DivergedError(
            f"training diverged at epoch {epoch}, step {step}: loss {loss}, {bad} of "
            f"{weights.size} weights NaN or infinite after the step. {advice}"
        )

    def _run_epoch(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, epoch: int = 0
    ) -> tuple[float, int]:
        n, bs = len(X), self.config.batch_size
        if self.config.shuffle:
            # One gather per epoch; minibatches are then contiguous views (no per-step copy).
            perm = self._rng.permutation(n)
            X, y = X[perm], y[perm]
            w = None if w is None else w[perm]
        stop = n - n % bs if self.config.drop_last and n >= bs else n
        total, seen = 0.0, 0
        for i in range(0, stop, bs):
            j = min(i + bs, stop)
            value = self.train_step(X[i:j], y[i:j], None if w is None else w[i:j])
            if not (math.isfinite(value) and np.isfinite(self.model.params.data).all()):
                self._diverged(epoch, i // bs, value)
            total += value * (j - i)
            seen += j - i
        return total / max(seen, 1), seen

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        X, y, _ = self._check_data(X, y, None)
        logits = self.model.predict(X)
        value, _ = self.loss(logits, y)
        scores = logits.reshape(-1)
        return {
            "loss": float(value),
            "roc_auc": roc_auc(y, scores),
            "average_precision": average_precision(y, scores),
        }

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The sigmoid of the model's single output per row, shape (n,), float64."""
        return sigmoid(self.model.predict(X).reshape(-1).astype(np.float64))

    def _check_data(self, X, y, w):
        with np.errstate(over="ignore"):  # an overflow is named below, not as a bare warning
            given, X = X, np.ascontiguousarray(X, dtype=self.model.dtype)
        y = np.ascontiguousarray(y, dtype=self.model.dtype).reshape(-1)
        if X.ndim != 2 or len(X) != len(y):
            raise ShapeError(
                f"fit expects X of shape (n, features) and y of length n. Received X {X.shape}, y {y.shape}"
            )
        if len(X) == 0:
            raise ShapeError("fit received an empty training set (0 rows)")
        bad = X.size - np.count_nonzero(np.isfinite(X))
        if bad:
            # the first step turned every weight NaN and the error blamed the learning rate
            rows = np.flatnonzero(~np.isfinite(X).all(axis=1))
            if np.isfinite(np.asarray(given, dtype=np.float64)).all():
                # finite as given: the cast to the model's dtype made them infinite (the
                # error said to impute values the caller never had); a float32 model was
                # told to build itself with float32 (review48c): the next wider dtype
                wider = "float32" if X.dtype.itemsize < 4 else "float64"
                raise ShapeError(
                    f"X holds {bad} value(s) beyond the range of the model's dtype "
                    f"{X.dtype} (largest {np.finfo(X.dtype).max:g}) in {rows.size} row(s) "
                    f"(e.g. row {int(rows[0])}): scale the features down or build the model "
                    f"with dtype=np.{wider}"
                )
            raise ShapeError(
                f"X holds {bad} NaN or infinite value(s) in {rows.size} row(s) (e.g. row "
                f"{int(rows[0])}); impute or drop them before fit or evaluate"
            )
        if w is not None:
            w = np.ascontiguousarray(w, dtype=self.model.dtype).reshape(-1)
            if len(w) != len(y):
                raise ShapeError(f"sample_weight must have length {len(y)}. Received {len(w)}")
        return X, y, w
