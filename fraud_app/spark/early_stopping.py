"""Early stopping of a distributed run on validation average precision (contract C7).

Design: the driver already receives the full weights of every committed group
(rank 0's report), so it scores the validation set itself, in NumPy, with a
driver-side copy of the model. The workers never see the validation data and
never wait for it: they train the next group while the driver evaluates (the
boundary server queues up to 32 groups of reports). Evaluation points are fixed
ITERATIONS (every `every_epochs` of the training data, and the last iteration);
the grouped engine cuts its groups at those points, so the points, the scores
and the stopping decision do not depend on timing or on the automatic group
size, and a rerun with the same seed stops at the same iteration with the same
weights. With `every_groups` the points are group boundaries instead (then only
a fixed `group_size` makes them reproducible).

When `patience` evaluations in a row fail to beat the best average precision by
more than `min_delta`, the driver stops and, with `restore_best`, loads the weights
of the best evaluation (with `average_best` k > 1: the mean of the k best evaluations'
weights, a weight average along the trajectory; the driver holds k copies). A stage
that could end in a stop (the next evaluation would spend the patience) is planned to end
at that evaluation point, so the stop meets a finished stage: its tasks return normally
instead of being killed by a cancelled job (Spark waits `spark.python.task.killTimeout` for each killed Python worker, and the
next run would start new ones). A stage cancelled for any other reason drops the work
its workers did past the last committed boundary. `best_iteration` is the iteration count to
use for a refit on train + validation.

A run resumed from a checkpoint continues the stopper as it was at that group: the
checkpoint keeps the evaluation records, the best score, iteration and weights (the
`average_best` snapshots too), the patience count and whether the run had stopped
(`checkpoint_state` / `restore_state`), so a resumed run ends with the weights, the
`best_iteration` and the records of the run that was not interrupted. (They were
tracked again from the resumed iteration: a member that had finished or stopped was
resumed with no best weights, so it ended with its last weights and best_iteration
None, which also turned the refit off, or trained on past its stop.) The stopper's
settings and its validation rows are part of the checkpoint's setup (`setup`), so a
checkpoint of another validation window or other settings is not resumed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcore.fixed_input import FixedInputPredictor
from dlcore.metrics import average_precision
from dlcore.model import Model
from dlcore.training.snapshots import BestSnapshots
from fraud_app.errors import ConfigError, EmptyInputError
from fraud_app.spark.data import PartitionData

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """patience: evaluations in a row without an improvement > min_delta before stopping.
    restore_best: end with the weights of the best evaluation (else: the last ones).
    every_epochs: evaluate every this many passes over the training data (by iteration);
    every_groups: or every N committed groups instead (then every_epochs must be None).
    min_epochs: no evaluation before this many passes (nor before the learning-rate warm-up
    ends, see EarlyStopper): an early, still-warming model on a small, noisy validation
    set must not become "the best" and end the run.
    average_best: with restore_best, end with the mean of the weights of the `average_best`
    best evaluations (dlcore.training.snapshots.BestSnapshots; 1 = the best one's weights).
    `best_iteration` stays the single best evaluation's.
    max_rows: past this many validation rows, the stopper scores a stratified sample with
    weights (fraud_app.spark.validation_sample); None = the whole window, however large.
    """

    patience: int = 3
    restore_best: bool = True
    every_epochs: float | None = 1.0
    every_groups: int | None = None
    min_delta: float = 0.0
    min_epochs: float = 0.0
    average_best: int = 1
    max_rows: int | None = 1_000_000

    def __post_init__(self) -> None:
        # in this order: the first field wrong is the one an error names
        self._check_counts()
        self._check_evaluations()

    def _check_counts(self) -> None:
        """The integer fields: max_rows, average_best (which needs restore_best), patience."""
        if self.max_rows is not None and (
            isinstance(self.max_rows, bool)
            or not isinstance(self.max_rows, int)
            or self.max_rows < 2
        ):
            raise ConfigError(
                "early_stopping.max_rows must be an integer >= 2 or null (every row). "
                f"Received: {self.max_rows!r}"
            )
        if (
            isinstance(self.average_best, bool)
            or not isinstance(self.average_best, int)
            or self.average_best < 1
        ):
            raise ConfigError(
                "early_stopping.average_best must be an integer >= 1. "
                f"Received: {self.average_best!r}"
            )
        if self.average_best > 1 and not self.restore_best:
            raise ConfigError(
                "early_stopping.average_best > 1 averages the best evaluations' weights at the "
                "end, so it needs restore_best: true"
            )
        if (
            isinstance(self.patience, bool)
            or not isinstance(self.patience, int)
            or self.patience < 1
        ):
            raise ConfigError(
                f"early_stopping.patience must be an integer >= 1. Received: {self.patience!r}"
            )

    def _check_evaluations(self) -> None:
        """When it evaluates (every_epochs or every_groups, from min_epochs) and what
        counts as better (min_delta)."""
        if (self.every_epochs is None) == (self.every_groups is None):
            raise ConfigError("early_stopping: set exactly one of every_epochs or every_groups")
        if self.every_epochs is not None and not (
            math.isfinite(self.every_epochs) and self.every_epochs > 0
        ):
            raise ConfigError(
                f"early_stopping.every_epochs must be > 0. Received: {self.every_epochs!r}"
            )
        if self.every_groups is not None and (
            isinstance(self.every_groups, bool) or int(self.every_groups) < 1
        ):
            raise ConfigError(
                f"early_stopping.every_groups must be an integer >= 1. Received: {self.every_groups!r}"
            )
        if not (math.isfinite(self.min_epochs) and self.min_epochs >= 0):
            raise ConfigError(
                f"early_stopping.min_epochs must be >= 0. Received: {self.min_epochs!r}"
            )
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ConfigError(
                f"early_stopping.min_delta must be >= 0. Received: {self.min_delta!r}"
            )


def _require_both_classes(validation: PartitionData) -> None:
    """Refuse a validation set without rows or without both classes: its AP is undefined."""
    y = validation.y
    if validation.rows == 0:
        raise EmptyInputError("early stopping needs validation rows; the validation set is empty")
    positives = int((y > 0.5).sum())
    if positives in (0, validation.rows):
        raise EmptyInputError(
            f"early stopping needs both classes in the validation set; it has {positives} "
            f"positive(s) in {validation.rows} rows. Widen the validation window or turn "
            "early stopping off (training.distributed.early_stopping: null)"
        )


def _evaluation_points(
    config: EarlyStoppingConfig, total_iterations: int, iterations_per_epoch: int, first: int
) -> list[int]:
    """The iterations it evaluates at: every `every_epochs` from `first` on, and the last
    (every_groups: the last only here; group boundaries add theirs, `due`)."""
    if config.every_epochs is not None:
        step = max(1, round(config.every_epochs * iterations_per_epoch))
        points = range(step, total_iterations + 1, step)
        return sorted({*(p for p in points if p >= first), total_iterations})
    return [total_iterations]


class EarlyStopper:
    """Driver-side validation scoring, best-weights tracking and the stop decision."""

    def __init__(
        self,
        config: EarlyStoppingConfig,
        validation: PartitionData,
        model_config: dict[str, Any],
        *,
        total_iterations: int,
        iterations_per_epoch: int,
        warmup_iterations: int = 0,
    ) -> None:
        _require_both_classes(validation)
        self.config = config
        self.validation = validation
        self.model = Model.from_config(model_config)
        if validation.X.shape[1] != self.model.in_features:
            raise ConfigError(
                f"validation feature vectors have {validation.X.shape[1]} values but the model "
                f"expects {self.model.in_features}"
            )
        # The validation rows never change: the model's leading layers without parameters
        # (standardisation, input encoding) are run on them once, not at every evaluation.
        self.predictor = FixedInputPredictor(self.model, validation.X)
        self.total = total_iterations
        self.records: list[dict[str, Any]] = []
        self.best_ap = -math.inf
        self.best_iteration: int | None = None
        self.best_weights: tuple[np.ndarray, dict[str, np.ndarray]] | None = None
        self.since_best = 0
        self.stopped = False
        self.snapshots = BestSnapshots(config.average_best) if config.average_best > 1 else None
        self.iterations_per_epoch = max(1, iterations_per_epoch)
        self.first = max(
            math.ceil(config.min_epochs * self.iterations_per_epoch), warmup_iterations
        )
        self.points = _evaluation_points(
            config, total_iterations, self.iterations_per_epoch, self.first
        )

    def cut(self, plan: list[int], start_iteration: int) -> list[int]:
        """Split the planned groups so that every evaluation point is a group boundary."""
        if self.config.every_epochs is None:
            return plan
        out, it = [], start_iteration
        for g in plan:
            end = it + g
            for p in self.points:
                if it < p < end:
                    out.append(p - it)
                    it = p
            out.append(end - it)
            it = end
        return out

    def until_possible_stop(
        self, plan: list[int], start_iteration: int, start_group: int
    ) -> list[int]:
        """The planned groups up to the first evaluation that can stop the run.

        That is the evaluation that spends the patience if none before it improves: the
        stage ends there, so a stop finds the stage already done (no cancelled barrier
        job, no killed tasks, the Python workers stay up for the next run), and no group
        past it is trained only to be dropped. Iterations, evaluations and weights are
        the same either way (groups and stages do not change the result; module doc).
        """
        left = self.config.patience - self.since_best  # evaluations until a possible stop
        iteration, group = start_iteration, start_group
        for index, g in enumerate(plan):
            iteration, group = iteration + g, group + 1
            if iteration < self.total and self.due(iteration, group):
                left -= 1
                if left <= 0:
                    return plan[: index + 1]
        return plan

    def due(self, iteration: int, group: int | None) -> bool:
        """Whether the state after `iteration` iterations (`group` groups, None: not a group
        boundary) is evaluated."""
        if iteration >= self.total:
            return True
        if self.config.every_groups is not None:
            due = group is not None and group % self.config.every_groups == 0
            return due and iteration >= self.first
        return iteration in self.points

    def evaluate(
        self,
        iteration: int,
        group: int | None,
        params: np.ndarray,
        layer_state: dict[str, np.ndarray],
    ) -> dict[str, Any]:
        """Score the validation set with these weights; update best / patience; return the record."""
        self.model.load_weights(params, layer_state)
        scores = self.predictor.predict().reshape(-1)  # = self.model.predict(X), bit for bit
        ap = average_precision(self.validation.y, scores, sample_weight=self.validation.w)
        record = {
            "epoch": round(iteration / self.iterations_per_epoch, 4),
            "iteration": iteration,
            "group": group,
            "average_precision": ap,
        }
        self.records.append(record)
        if math.isfinite(ap) and ap > self.best_ap + self.config.min_delta:
            self.best_ap, self.best_iteration, self.since_best = ap, iteration, 0
            self.best_weights = (params.copy(), {k: v.copy() for k, v in layer_state.items()})
        else:
            self.since_best += 1
        if self.snapshots is not None:
            self.snapshots.offer(ap, iteration, params, layer_state)
        if self.since_best >= self.config.patience and iteration < self.total:
            self.stopped = True
            logger.info(
                "early stopping at iteration %d: validation AP %.5f has not beaten %.5f "
                "(iteration %d) for %d evaluations",
                iteration, ap, self.best_ap, self.best_iteration, self.since_best,
            )  # fmt: skip
        else:
            logger.info(
                "validation AP %.5f at iteration %d (best %.5f at %s)",
                ap, iteration, self.best_ap, self.best_iteration,
            )  # fmt: skip
        return record

    def setup(self) -> dict[str, Any]:
        """What a resumed run's stopper must share with the checkpoint's: its settings and
        its validation rows (a digest that does not depend on their order)."""
        v = self.validation
        columns = [v.X.astype(np.float32), v.y.astype(np.float32)]
        if v.w is not None:  # a sample's weights (a whole window has none: digests as before)
            columns.append(v.w.astype(np.float32))
        rows = np.ascontiguousarray(np.column_stack(columns))
        keyed = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
        digest = hashlib.sha256(np.sort(keyed).tobytes()).hexdigest()[:16]
        config = dataclasses.asdict(self.config)
        config.pop("max_rows")  # what it changes, the rows, is in the digest
        return {"config": config, "validation": digest}

    def checkpoint_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON, arrays) a checkpoint keeps of the stopper: the records, the best score,
        iteration and patience count, whether it stopped; the best weights and snapshots."""
        arrays: dict[str, np.ndarray] = {}
        if self.best_weights is not None:
            _put_weights(arrays, "best", *self.best_weights)
        snapshots = []
        for i, (score, step, params, state) in enumerate(
            self.snapshots.entries() if self.snapshots is not None else []
        ):
            _put_weights(arrays, f"snapshot{i}", params, state)
            snapshots.append([score, step])
        meta = {
            "records": [dict(r) for r in self.records],
            "best_ap": self.best_ap if math.isfinite(self.best_ap) else None,
            "best_iteration": self.best_iteration,
            "since_best": self.since_best,
            "stopped": self.stopped,
            "snapshots": snapshots,
        }
        return meta, arrays

    def restore_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """The stopper as `checkpoint_state` left it (read back from a checkpoint)."""
        self.records = [dict(r) for r in meta["records"]]
        best = meta["best_ap"]
        self.best_ap = -math.inf if best is None else float(best)
        it = meta["best_iteration"]
        self.best_iteration = None if it is None else int(it)
        self.since_best, self.stopped = int(meta["since_best"]), bool(meta["stopped"])
        self.best_weights = _get_weights(arrays, "best") if "best:params" in arrays else None
        if self.snapshots is not None:
            self.snapshots.restore(
                [(float(score), int(step), *_get_weights(arrays, f"snapshot{i}"))
                 for i, (score, step) in enumerate(meta["snapshots"])]
            )  # fmt: skip

    def final_weights(
        self, params: np.ndarray, layer_state: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The weights the run ends with: the best evaluation's with restore_best (the mean
        of the `average_best` best ones' when that is > 1), else these."""
        if self.snapshots is not None and len(self.snapshots):
            params, layer_state = self.snapshots.average()
            logger.info(
                "weights averaged over the evaluations at iterations %s", self.snapshots.steps
            )
            return params, layer_state
        if self.config.restore_best and self.best_weights is not None:
            return self.best_weights
        return params, layer_state


def _put_weights(arrays: dict[str, np.ndarray], prefix: str, params, state) -> None:
    arrays[f"{prefix}:params"] = params
    for key, value in state.items():
        arrays[f"{prefix}:layer:{key}"] = value


def _get_weights(arrays: dict[str, np.ndarray], prefix: str):
    layer = f"{prefix}:layer:"
    state = {k[len(layer) :]: v for k, v in arrays.items() if k.startswith(layer)}
    return arrays[f"{prefix}:params"], state
