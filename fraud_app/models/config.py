"""`training` config section: model architecture, loss, optimizer and distributed settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fraud_app.config_base import Section
from fraud_app.spark.config import DistributedConfig


class ModelSection(Section):
    """An MLP: Standardize -> [Linear -> (BatchNorm) -> activation -> (Dropout)] x hidden -> Linear(1)."""

    hidden: tuple[int, ...] = Field((128, 64), min_length=1)
    activation: Literal["relu", "leaky_relu", "tanh"] = "relu"
    dropout: float = Field(0.1, ge=0, lt=1)
    batchnorm: bool = False
    standardize_clip: float | None = Field(10.0, gt=0)


class LossSection(Section):
    type: Literal["bce", "focal"] = "bce"
    pos_weight: float = Field(1.0, gt=0)
    focal_alpha: float = Field(0.25, gt=0, lt=1)
    focal_gamma: float = Field(2.0, ge=0)


class OptimizerSection(Section):
    type: Literal["adam", "adamw", "sgd", "lars"] = "adam"
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    clip_norm: float | None = Field(None, gt=0)


class DistributedSection(Section):
    """Maps onto fraud_app.spark.config.DistributedConfig (see its docstring)."""

    num_workers: int = Field(2, ge=1)
    global_batch_size: int = Field(1024, ge=1)
    epochs: float | None = Field(3.0, gt=0)
    iterations: int | None = Field(None, ge=1)
    group_size: int | Literal["auto"] = "auto"
    stage_groups: int | Literal["auto"] = "auto"
    engine: Literal["grouped", "per_iteration"] = "grouped"
    max_retries: int = Field(3, ge=0)
    compression: Literal["bf16", "fp16"] | None = None
    scale_lr: bool = True
    base_batch_size: int = Field(256, ge=1)
    warmup_iterations: int = Field(50, ge=0)
    connect_timeout_s: float = Field(60.0, gt=0)
    op_timeout_s: float = Field(120.0, gt=0)
    stage_start_timeout_s: float = Field(600.0, gt=0)

    def to_config(self, *, seed: int, checkpoint_dir: str | None) -> DistributedConfig:
        epochs = None if self.iterations is not None else self.epochs
        return DistributedConfig(
            **self.model_dump(exclude={"epochs"}),
            epochs=epochs,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
        )


class TrainingSection(Section):
    """Train one ensemble member per balanced subset (UnionPay); score = mean member probability."""

    seed: int = Field(0, ge=0)
    model: ModelSection = Field(default_factory=ModelSection)
    loss: LossSection = Field(default_factory=LossSection)
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    distributed: DistributedSection = Field(default_factory=DistributedSection)
    checkpoint: bool = True
