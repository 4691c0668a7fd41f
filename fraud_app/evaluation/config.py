"""`backtest` config section: K rolling folds and what each fold trains and reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from fraud_app.balancing.config import UnionPaySubsetsSection
from fraud_app.config_base import Section
from fraud_app.models.config import LossSection, ModelSection, OptimizerSection
from fraud_app.uris import local_path, not_local


class GbtSection(Section):
    """The gradient-boosted-trees baseline (library defaults otherwise)."""

    max_iter: int = Field(100, ge=1)  # trees
    max_depth: int = Field(6, ge=1, le=20)
    learning_rate: float = Field(0.1, gt=0, le=1)


class BacktestSection(Section):
    """K folds, newest last; fold k's windows are fold K-1's moved back (K-1-k) * step_days.

    Each fold: train (train_days, or all earlier data when null) | validation_gap_days |
    validation (validation_days) | test_gap_days (null = features.label_delay_days) |
    test (test_days). `end`: the exclusive end of the newest test window (null = the day
    after the last transaction). Training labels are those known at the fold's cut-off
    (the start of its test window); a label confirmed later counts as not fraud yet.
    baseline: "gbt" (Spark ML GBTClassifier), "xgboost" (needs the `baselines` extra)
    or "none". alert_budget: share of each day's transactions an analyst team can review,
    in (0, 1) as scoring.alert_budget; k: cards reviewed per day for card precision@k.
    """

    folds: int = Field(4, ge=1, le=100)
    step_days: float = Field(7.0, gt=0)
    train_days: float | None = Field(28.0, gt=0)
    validation_days: float = Field(7.0, gt=0)
    test_days: float = Field(7.0, gt=0)
    validation_gap_days: float = Field(0.0, ge=0)
    test_gap_days: float | None = Field(None, ge=0)
    end: dt.date | None = None
    baseline: Literal["gbt", "xgboost", "none"] = "gbt"
    gbt: GbtSection = Field(default_factory=GbtSection)
    # a share in (0, 1) as scoring.alert_budget(s) (1 was accepted here, refused there)
    alert_budget: float = Field(0.01, gt=0, lt=1)
    k: int = Field(100, ge=1)


# tune.space axis -> (the section that holds the setting, its field, the setting's key)
AXIS_TARGETS: dict[str, tuple[type[Section], str, str]] = {
    "hidden": (ModelSection, "hidden", "training.model.hidden"),
    "dropout": (ModelSection, "dropout", "training.model.dropout"),
    "learning_rate": (OptimizerSection, "learning_rate", "training.optimizer.learning_rate"),
    "pos_weight": (LossSection, "pos_weight", "training.loss.pos_weight"),
    "loss": (LossSection, "type", "training.loss.type"),
    "n_subsets": (UnionPaySubsetsSection, "n_subsets", "balancing.unionpay_subsets.n_subsets"),
    "normal_ratio": (
        UnionPaySubsetsSection,
        "normal_ratio",
        "balancing.unionpay_subsets.normal_ratio",
    ),
}


class TuneSpace(Section):
    """Values to search; every list is one axis (grid: the cartesian product). Each value
    is checked against the setting it sets when the config is read (a dropout of 1.5 was
    accepted here and failed with a traceback at its trial, after the earlier trials had
    trained)."""

    hidden: list[tuple[int, ...]] = Field(default_factory=lambda: [(128, 64), (64, 32), (256, 128)])
    dropout: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.3])
    learning_rate: list[float] = Field(default_factory=lambda: [1e-3, 3e-3])
    pos_weight: list[float] = Field(default_factory=lambda: [1.0, 3.0])
    loss: list[Literal["bce", "focal"]] = Field(default_factory=lambda: ["bce", "focal"])
    n_subsets: list[int] = Field(default_factory=lambda: [3, 5])
    normal_ratio: list[float | None] = Field(default_factory=lambda: [10.0, 20.0])

    @field_validator("*", mode="before")
    @classmethod
    def _axis_values(cls, values: Any, info: ValidationInfo) -> Any:
        """An axis is a list of values: one value alone said only `Input should be a valid
        list`; `hidden: [8, 16]` (two widths, meant as two one-layer networks) `Input should be
        a valid tuple (received 8)`; `dropout: [true]` was read as 1.0 and refused as `= 1.0`."""
        if values is None or values == "":  # `dropout:` with nothing after it
            default = cls.model_fields[info.field_name].default_factory()
            shown = [list(v) if isinstance(v, tuple) else v for v in default]
            raise ValueError(f"has no value (a key with nothing after it); give a list of "
                             f"values to search, e.g. {shown} (the default, as when the key "
                             "is left out)")  # fmt: skip
        if not isinstance(values, list | tuple):
            raise ValueError(f"give a list of values to search, e.g. [{values!r}] for one")
        for i, value in enumerate(values):
            if isinstance(value, bool):
                raise ValueError(f"[{i}] is the boolean {str(value).lower()}, not a value to "
                                 "search (YAML reads true/false, yes/no and on/off as booleans)")  # fmt: skip
            if info.field_name == "hidden" and not isinstance(value, list | tuple):
                raise ValueError(
                    f"[{i}] = {value!r} is not a network's layer widths: each value is a list, "
                    "e.g. [[8], [16]] searches one layer of 8 or of 16 units, [[16, 8]] two "
                    "layers"
                )
            if info.field_name == "hidden" and any(isinstance(w, bool) for w in value):
                raise ValueError(f"[{i}] = {list(value)!r} holds a boolean, not a layer width "
                                 "(true was read as a width of 1)")  # fmt: skip
        return values

    @field_validator("*")
    @classmethod
    def _values_fit_their_settings(cls, values: list, info: ValidationInfo) -> list:
        """Per axis, so the error names `tune.space.<axis>` and quotes that axis's values
        (a model validator quoted the whole space as the value received)."""
        section, field, key = AXIS_TARGETS[info.field_name]
        problems = []
        for i, value in enumerate(values):
            try:
                section.model_validate({field: value})
            except ValidationError as exc:
                why = exc.errors()[0]["msg"]
                shown = list(value) if isinstance(value, tuple) else value
                problems.append(f"[{i}] = {shown!r} is not a valid {key}: {why}")
        if problems:
            raise ValueError("; ".join(problems))
        return values


class TuneSection(Section):
    """`fraud-app tune`: `method` grid (every combination of `space`) or random (`trials`
    combinations drawn with `seed`). Each trial trains the ensemble on the train window
    (early stopping on validation as configured) and is scored by validation AP only; the
    test window is never touched. The best full config is written to `output` (default
    <paths.reports>/tune-<run>-best.yaml): a local path or a `file:` URI, as Python writes
    it (a remote URI is refused)."""

    method: Literal["grid", "random"] = "random"
    trials: int = Field(8, ge=1)
    seed: int = Field(0, ge=0)
    space: TuneSpace = Field(default_factory=TuneSpace)
    output: str | None = None

    @field_validator("output")
    @classmethod
    def _output_is_local(cls, value: str | None) -> str | None:
        """Python writes the best config: a URI of another store made a folder `hdfs:`."""
        if value and local_path(value) is None:
            raise ValueError(not_local(value, writes=True))
        return value

    def output_path(self) -> Path | None:
        """tune.output as Python opens it (a `file:` URI as its local path), or None."""
        return local_path(self.output) if self.output else None
