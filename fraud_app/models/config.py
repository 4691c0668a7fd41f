"""`training` config section: model architecture, loss, optimizer and distributed settings."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from fraud_app.config_base import Section
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.early_stopping import EarlyStoppingConfig


class ModelSection(Section):
    """An MLP: Standardize (-> GaussianNoise) (-> PiecewiseLinear) -> [Linear -> (BatchNorm) -> activation -> (Dropout)] x hidden -> Linear(1)."""

    # units per hidden layer, each >= 1 (a 0 was accepted and failed at training time as
    # dlcore's "Linear: units must be a positive integer", naming no setting)
    hidden: tuple[Annotated[int, Field(ge=1)], ...] = Field((128, 64), min_length=1)
    activation: Literal["relu", "leaky_relu", "tanh"] = "relu"
    dropout: float = Field(0.1, ge=0, lt=1)
    batchnorm: bool = False
    standardize_clip: float | None = Field(10.0, gt=0)
    # "piecewise_linear": after Standardize, every feature also enters as `encoding_bins`
    # piecewise-linear columns on quantile bins of the training window (stored in the model;
    # dlcore.layers.PiecewiseLinear). "none": the standardised features only. The training
    # defaults are the settings measured best in docs/BENCHMARKS.md (issue 10), as in
    # configs/demo.yaml, so a config that sets only paths trains the same kind of model.
    encoding: Literal["none", "piecewise_linear"] = "piecewise_linear"
    encoding_bins: int = Field(8, ge=1, le=64)
    # Training-time Gaussian noise added to the standardised features (before the encoding;
    # dlcore.layers.GaussianNoise, the identity when scoring), in units of each feature's
    # standard deviation. 0 = none (no layer).
    input_noise: float = Field(0.0, ge=0, le=10)


class LossSection(Section):
    """The training loss: `bce` (binary cross-entropy with logits, frauds weighted by
    `pos_weight`) or `focal` (Lin et al. 2017: `focal_alpha`, `focal_gamma`)."""

    type: Literal["bce", "focal"] = "bce"
    pos_weight: float = Field(1.0, gt=0)
    focal_alpha: float = Field(0.25, gt=0, lt=1)
    focal_gamma: float = Field(2.0, ge=0)


class OptimizerSection(Section):
    """The optimizer: `adam`, `adamw`, `sgd` or `lars` (`momentum` for the last two) at
    `learning_rate` (x global batch / base_batch_size with distributed.scale_lr),
    `weight_decay`, and `clip_norm` (null: no clipping; else the gradients' global norm
    is clipped to it)."""

    type: Literal["adam", "adamw", "sgd", "lars"] = "adam"
    learning_rate: float = Field(3e-3, gt=0)  # x global batch / 256 with scale_lr
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    clip_norm: float | None = Field(None, gt=0)


class EarlyStoppingSection(Section):
    """Stop a member when its validation AP has not improved for `patience` evaluations
    (evaluated every `every_epochs` passes over its training subset, or every `every_groups`
    groups); epochs / iterations is then the maximum. See fraud_app.spark.early_stopping."""

    patience: int = Field(5, ge=1)
    restore_best: bool = True
    every_epochs: float | None = Field(1.0, gt=0)
    every_groups: int | None = Field(None, ge=1)
    min_delta: float = Field(0.0, ge=0)
    min_epochs: float = Field(3.0, ge=0)  # and never during the learning-rate warm-up
    # > 1: end with the mean of the weights of this many best evaluations (restore_best)
    average_best: int = Field(1, ge=1, le=100)
    # past this many validation rows, the stopper scores a stratified sample of them with
    # weights (all frauds + normal rows; the reported figures use the whole window);
    # null = every row on the driver
    max_rows: int | None = Field(1_000_000, ge=2)

    @model_validator(mode="after")
    def _average_needs_restore(self) -> EarlyStoppingSection:
        # refused only by EarlyStoppingConfig when the first member trained, after Spark,
        # the data pass and the balancing (probe55g)
        if self.average_best > 1 and not self.restore_best:
            raise ValueError(
                f"average_best ({self.average_best}) > 1 ends with the mean of the best "
                "evaluations' weights, which needs restore_best: true; set restore_best: true, "
                "or average_best: 1 to end with the last weights"
            )
        return self

    def to_config(self) -> EarlyStoppingConfig:
        every_epochs = None if self.every_groups is not None else self.every_epochs
        return EarlyStoppingConfig(**{**self.model_dump(), "every_epochs": every_epochs})


class DistributedSection(Section):
    """Maps onto fraud_app.spark.config.DistributedConfig (see its docstring)."""

    num_workers: int = Field(2, ge=1)
    global_batch_size: int = Field(256, ge=1)  # 512 until issue 10 run 15 (session 19)
    epochs: float | None = Field(60.0, gt=0)  # the maximum: early stopping chooses
    iterations: int | None = Field(None, ge=1)
    group_size: int | Literal["auto"] = "auto"
    stage_groups: int | Literal["auto"] = "auto"
    engine: Literal["grouped", "per_iteration"] = "grouped"
    max_retries: int = Field(3, ge=0)
    compression: Literal["bf16", "fp16"] | None = None
    # How workers on several hosts reduce: "auto" = hierarchical (shared memory within a
    # host, TCP between hosts) where hosts hold several workers; "flat" = one TCP ring.
    topology: Literal["auto", "flat", "hierarchical"] = "auto"
    # The network interface (e.g. "eth1") whose address each worker gives its ring
    # neighbours, on hosts with several networks; null = SPARK_LOCAL_IP of the executor,
    # else the executor's address as Spark knows it (docs/DEPLOY.md, "Several networks")
    ring_interface: str | None = Field(None, min_length=1, max_length=15, pattern=r"^[^\s/:]+$")
    scale_lr: bool = True
    base_batch_size: int = Field(256, ge=1)
    warmup_iterations: int = Field(20, ge=0)
    # > 0: train on mixup batches, weights ~ Beta(mixup_alpha, mixup_alpha) (soft labels:
    # needs loss.type bce); 0 = off
    mixup_alpha: float = Field(0.0, ge=0, le=100)
    # workers encode their partition once (standardisation + input encoding) when the result
    # fits in this many bytes per worker; 0 = every batch runs the whole model (same bits)
    encoded_rows_max_bytes: int = Field(1 << 30, ge=0)
    connect_timeout_s: float = Field(60.0, gt=0)
    op_timeout_s: float = Field(120.0, gt=0)
    stage_start_timeout_s: float = Field(600.0, gt=0)
    # null: train exactly epochs / iterations; else stop on validation AP (fraud-app train
    # passes the validation window)
    early_stopping: EarlyStoppingSection | None = Field(default_factory=EarlyStoppingSection)

    @model_validator(mode="after")
    def _a_length(self):
        # checked when the config is read: both null was accepted and refused by
        # DistributedConfig at the first member's training, after Spark, the data pass and
        # the balancing, with that member's data left cached (session 37)
        if self.epochs is None and self.iterations is None:
            raise ValueError(
                "distributed.epochs and distributed.iterations are both null: set one of them "
                "(epochs: passes over each member's data, e.g. 60; iterations: optimizer steps)"
            )
        return self

    def to_config(
        self,
        *,
        seed: int,
        checkpoint_dir: str | None,
        iterations: int | None = None,
        epochs: float | None = None,
        early_stopping: bool = True,
        lr_decay: str = "none",
    ) -> DistributedConfig:
        """`iterations` or `epochs` overrides epochs / iterations (a refit: the chosen count,
        or a warm start's passes); early_stopping=False turns it off; lr_decay: "cosine"
        decays the learning rate to 0 over the run (a warm-start refit)."""
        if iterations is not None:
            its, epochs = iterations, None
        elif epochs is not None:
            its = None
        else:
            its = self.iterations
            epochs = None if its is not None else self.epochs
        es = self.early_stopping.to_config() if early_stopping and self.early_stopping else None
        return DistributedConfig(
            **self.model_dump(exclude={"epochs", "iterations", "early_stopping"}),
            iterations=its,
            epochs=epochs,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            early_stopping=es,
            lr_decay=lr_decay,
        )


class RefitSection(Section):
    """After early stopping: train again on train + validation, the model that is saved (the
    most recent labelled data matters most in fraud). The validation window is inside the
    refit, so it cannot choose these settings (docs/BENCHMARKS.md, issue 10 run 6).

    method "warm_start": each member continues from its early-stopped best weights, with
    its own Standardize statistics and input-encoding bins, on its subset of train +
    validation, with a fresh optimizer for `passes` passes over that subset, at the
    learning rate times `learning_rate_scale`, cosine-decayed to 0 with decay "cosine"
    (Loshchilov & Hutter 2017), after the usual warm-up. "fresh": each member from a new
    initialisation for its early-stopping-chosen iteration count (statistics and bins
    fitted again on train + validation)."""

    enabled: bool = True
    method: Literal["warm_start", "fresh"] = "warm_start"
    passes: float = Field(3.0, gt=0)
    learning_rate_scale: float = Field(1.0, gt=0)
    decay: Literal["none", "cosine"] = "cosine"


class TrainingSection(Section):
    """Train one ensemble member per balanced subset (UnionPay); score = mean member probability."""

    # below 2**62: Spark hashes rows with seed + k as a 64-bit literal (2**64 was a Py4JError
    # from functions.lit in the estimators' validation split)
    seed: int = Field(0, ge=0, lt=2**62)
    model: ModelSection = Field(default_factory=ModelSection)
    loss: LossSection = Field(default_factory=LossSection)
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    distributed: DistributedSection = Field(default_factory=DistributedSection)
    checkpoint: bool = True
    # A finished run's checkpoints (`<paths.checkpoints>/<run>/`; a backtest's refit ones,
    # `backtest-<run>/`) only resume an interrupted run: removed once the run's report is
    # written (a daily schedule kept every run's, forever), unless true.
    keep_checkpoints: bool = False
    # After early stopping: train again on train + validation (RefitSection); `true` /
    # `false` stand for the default section / enabled: false.
    refit: RefitSection = Field(default_factory=RefitSection)

    @field_validator("refit", mode="before")
    @classmethod
    def _refit_from_bool(cls, value):
        return {"enabled": value} if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _batch_splits_among_workers(self):
        # checked when the config is read: it was DistributedConfig's error at the first
        # member's training, after Spark, the data and the balancing, naming a key
        # (training.global_batch_size) the config file does not have
        batch, workers = self.distributed.global_batch_size, self.distributed.num_workers
        if batch % workers:
            fits = max(workers, batch // workers * workers)
            raise ValueError(
                f"distributed.global_batch_size ({batch}) must be divisible by "
                f"distributed.num_workers ({workers}) so every worker gets the same local "
                f"batch (e.g. {fits})"
            )
        return self

    @model_validator(mode="after")
    def _refit_rate_is_finite(self):
        # a warm-start refit trains at learning_rate x refit.learning_rate_scale: a product
        # past the largest float was refused only when the refit's first member was built,
        # after the whole first training, naming neither key (session 37)
        refit, lr = self.refit, self.optimizer.learning_rate
        warm = refit.enabled and refit.method == "warm_start"
        if warm and not math.isfinite(lr * refit.learning_rate_scale):
            raise ValueError(
                f"optimizer.learning_rate ({lr}) x refit.learning_rate_scale "
                f"({refit.learning_rate_scale}) is not a finite number: the warm-start "
                "refit could not train at it; lower one of them"
            )
        return self

    @model_validator(mode="after")
    def _mixup_needs_soft_labels(self):
        if self.distributed.mixup_alpha > 0 and self.loss.type != "bce":
            raise ValueError(
                "distributed.mixup_alpha > 0 gives soft labels, which only the bce loss takes; "
                f"loss.type is {self.loss.type!r}"
            )
        return self
