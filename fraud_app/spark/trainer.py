"""DistributedTrainer: data-parallel dlcore training as standard Spark jobs.

Owns: the driver side of a run. `fit(df)` validates, turns the DataFrame into
per-worker NumPy partitions, and hands the loop to an engine:

* `GroupedEngine` (ours): one barrier stage runs several GROUPS of iterations.
  Workers rendezvous once per stage (milliseconds), then synchronise every
  iteration peer to peer with a reduce-scatter / sharded optimizer step /
  all-gather (BigDL's AllReduceParameter; TCP ring, or shared memory between
  ranks on one host). The driver sees no gradients; it receives each rank's
  state at every group boundary over an authenticated socket, writes a
  checkpoint, and retries a failed stage from the last committed group.
* `PerIterationEngine` (comparison): one Spark job per iteration, weights
  broadcast, gradients summed through the driver with treeAggregate (the
  Spark MLlib pattern). Same maths, so the same final weights.

Does not own: what runs inside a task (`worker.py`), the data path (`data.py`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from dlcore.model import Model
from dlcore.optimizers.base import (
    Optimizer,
    optimizer_from_config,
    optimizer_to_config,
)
from dlcore.schedules import CosineDecay, Schedule, WarmupLinearScaling, schedule_to_config
from fraud_app.errors import ConfigError, TrainingError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.connect import BARRIER, require_classic
from fraud_app.spark.data import PartitionData, to_training_blocks
from fraud_app.spark.early_stopping import EarlyStopper, EarlyStoppingConfig
from fraud_app.spark.engine_base import Engine, FaultInjection, TrainingResult
from fraud_app.spark.grouped import GroupedEngine
from fraud_app.spark.per_iteration import PerIterationEngine
from fraud_app.spark.planner import StageTiming
from fraud_app.spark.session import check_barrier_slots
from fraud_app.spark.summary import DataSummary, require_trainable, summarize_blocks
from fraud_app.spark.validation_rows import collect_validation

logger = logging.getLogger(__name__)

# A validation set without early stopping: evaluate every epoch, never stop, keep the last weights.
MONITOR_ONLY = EarlyStoppingConfig(patience=2**31 - 1, restore_best=False)


@dataclass
class TrainingData:
    """A DataFrame encoded for the trainer: persisted blocks (one partition per worker),
    each partition's row count and the data's summary, from ONE Spark job."""

    blocks: Any
    partition_rows: list[int]
    summary: DataSummary
    features_col: str
    spark: Any
    weight_col: str | None = None

    def unpersist(self) -> None:
        self.blocks.unpersist()


def prepare_training_data(
    df, *, features_col: str, label_col: str, weight_col: str | None, num_workers: int
) -> TrainingData:
    """Encode `df` and summarize it in the same pass. Raises nothing about the content:
    `fit` raises the structural errors, a caller may check the summary before (the
    estimators do: NaN features, non-binary labels) and read feature moments from it."""
    blocks = to_training_blocks(
        df,
        features_col=features_col,
        label_col=label_col,
        weight_col=weight_col,
        num_workers=num_workers,
    )
    try:
        summary, rows = summarize_blocks(blocks)
    except BaseException:
        blocks.unpersist()
        raise
    return TrainingData(blocks, rows, summary, features_col, df.sparkSession, weight_col)


class DistributedTrainer:
    """Data-parallel training of one dlcore `model` on a Spark DataFrame: `config.num_workers`
    barrier tasks, each holding a replica and a share of the rows, all-reduce their
    gradients peer to peer each step (the driver never sees gradients); `fit(df)` returns a
    TrainingResult (the trained model, a history entry per group and, with a validation
    set, the early-stopping records). See DistributedConfig for the settings."""

    def __init__(
        self,
        model: Model,
        loss,
        optimizer: Optimizer,
        config: DistributedConfig,
        *,
        spark=None,
        fault_injection: FaultInjection | None = None,
        stage_timing: StageTiming | None = None,
    ) -> None:
        """stage_timing: an earlier fit's `TrainingResult.stage_timing` on the same cluster
        (the members of one ensemble): the first stage is planned from it instead of
        measuring first. Group and stage sizes change no result, only the overhead."""
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.config = config
        self.spark = spark
        self.fault_injection = fault_injection
        self.stage_timing = stage_timing

    def fit(
        self,
        df,
        *,
        features_col: str = "features",
        label_col: str = "label",
        weight_col: str | None = None,
        validation_df=None,
    ) -> TrainingResult:
        """Train on `df`: a DataFrame, or the TrainingData of `prepare_training_data` (this
        call releases its blocks when it ends). `validation_df` (a DataFrame with the same
        columns, or the PartitionData of `collect_validation`) is scored on the driver at
        group boundaries: with `config.early_stopping` it decides when to stop and which
        weights to keep; without it the run only records the scores (and best_iteration),
        never stops early."""
        cfg = self.config
        require_classic(self.spark or df, "DistributedTrainer.fit", BARRIER)
        self._require_validation(df, validation_df)
        self._require_slots(df)
        data = (
            df
            if isinstance(df, TrainingData)
            else prepare_training_data(
                df,
                features_col=features_col,
                label_col=label_col,
                weight_col=weight_col,
                num_workers=cfg.num_workers,
            )
        )
        spark = self.spark or data.spark
        blocks = data.blocks
        try:
            validation = self._validation(validation_df, features_col, label_col)
            self._check_data(data)
            return self._engine(spark, data, validation).run(blocks, data.summary.rows)
        finally:
            blocks.unpersist()

    def _require_slots(self, df) -> None:
        """Too few task slots for the barrier stage, refused before the data is read: the
        check ran after prepare_training_data's pass over the whole DataFrame (a notebook's
        numWorkers=3 on local[2] waited for the data to be read, then was told)."""
        spark = self.spark or (df.spark if isinstance(df, TrainingData) else df.sparkSession)
        try:
            check_barrier_slots(spark.sparkContext, self.config.num_workers)
        except ConfigError:
            if isinstance(df, TrainingData):
                df.unpersist()  # released however fit ends, as for any other refusal
            raise

    def _require_validation(self, df, validation_df) -> None:
        """Refuse early stopping without a validation window (releasing `df`'s blocks)."""
        if self.config.early_stopping is not None and validation_df is None:
            if isinstance(df, TrainingData):
                df.unpersist()  # released however fit ends, as for any other refusal
            raise TrainingError(
                "early stopping is on but fit() received no validation_df; pass the validation "
                "window, or set early_stopping to None"
            )

    def _validation(self, validation_df, features_col: str, label_col: str):
        """The validation rows on the driver (collected unless they already are), or None."""
        cfg = self.config
        validation = None
        if validation_df is not None:
            validation = (
                validation_df
                if isinstance(validation_df, PartitionData)
                else collect_validation(
                    validation_df,
                    features_col=features_col,
                    label_col=label_col,
                    max_rows=cfg.early_stopping.max_rows if cfg.early_stopping else None,
                    seed=cfg.seed,
                )
            )
        return validation

    def _check_data(self, data: TrainingData) -> None:
        """Refuse data the run cannot train on: no usable rows, one partition per worker
        missing, or feature vectors of another width than the model's input."""
        cfg = self.config
        require_trainable(data.summary, data.partition_rows, data.features_col, data.weight_col)
        if len(data.partition_rows) != cfg.num_workers:
            raise TrainingError(
                f"the training data has {len(data.partition_rows)} partitions; this run "
                f"needs one per worker ({cfg.num_workers})"
            )
        in_features = data.summary.width
        if in_features != self.model.in_features:
            raise TrainingError(
                f"feature vectors have {in_features} values but the model expects {self.model.in_features}"
            )

    def _engine(self, spark, data: TrainingData, validation) -> Engine:
        """The configured engine, with the scaled optimizer and, given validation rows, the
        early stopper (or the monitor that only records the scores)."""
        cfg = self.config
        rows = data.summary.rows
        optimizer = self._scaled_optimizer(cfg.total_iterations(rows))
        engine_cls = GroupedEngine if cfg.engine == "grouped" else PerIterationEngine
        if engine_cls is PerIterationEngine and cfg.checkpoint_dir:
            logger.warning(
                "engine per_iteration writes no checkpoints: checkpoint_dir %s is not "
                "used, and an interrupted run starts over (engine grouped checkpoints "
                "every group)", cfg.checkpoint_dir,
            )  # fmt: skip
        engine = engine_cls(spark, self.model, self.loss, optimizer, cfg, self.fault_injection)
        engine.data_digest = data.summary.digest()
        engine.data_rows = data.summary.content_digest
        engine.stage_timing = self.stage_timing
        if validation is not None:
            engine.stopper = EarlyStopper(
                cfg.early_stopping or MONITOR_ONLY,
                validation,
                engine.model_config,
                total_iterations=cfg.total_iterations(rows),
                iterations_per_epoch=math.ceil(rows / cfg.global_batch_size),
                warmup_iterations=cfg.warmup_iterations if cfg.scale_lr else 0,
            )
        return engine

    def _scaled_optimizer(self, total: int | None = None) -> Optimizer:
        """Linear scaling rule + gradual warm-up (Goyal et al. 2017) for the global batch;
        with lr_decay "cosine", then a cosine decay to 0 at iteration `total` (the run's
        iteration count; None: the configured `iterations`)."""
        cfg = self.config
        total = cfg.iterations if total is None else total
        if cfg.lr_decay == "cosine" and not total:
            raise TrainingError("lr_decay 'cosine' needs the run's iteration count")
        spec = optimizer_to_config(self.optimizer)
        lr = spec["config"].get("learning_rate")
        if not (isinstance(lr, dict) and lr.get("type") == "Constant"):
            return optimizer_from_config(spec)
        base = lr["config"]["value"]
        if cfg.scale_lr:
            warmup, after = cfg.warmup_iterations, None
            if cfg.lr_decay == "cosine":  # the decay needs at least one step after the warm-up
                warmup = min(warmup, total - 1)
                after = CosineDecay(
                    base * cfg.global_batch_size / cfg.base_batch_size, total - warmup
                )
            schedule: Schedule = WarmupLinearScaling(
                base_lr=base,
                batch_size=cfg.global_batch_size,
                base_batch_size=cfg.base_batch_size,
                warmup_steps=warmup,
                after=after,
            )
        elif cfg.lr_decay == "cosine":
            schedule = CosineDecay(base, total)
        else:
            return optimizer_from_config(spec)
        spec["config"]["learning_rate"] = schedule_to_config(schedule)
        return optimizer_from_config(spec)
