"""`balancing` config section: the shape of the config only (strategies interpret it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fraud_app.config_base import Section


class UnionPaySubsetsSection(Section):
    """K subsets, each = every fraud + a disjoint 1/K share of the normals.

    normal_ratio r: each subset keeps at most ceil(r * n_frauds) normals of its share
    (None = the whole share); r < 1 leaves every subset with fewer normals than frauds
    (a WARNING says to raise it).
    """

    n_subsets: int = Field(5, ge=1, le=1000)
    normal_ratio: float | None = Field(None, gt=0)


class ClassWeightsSection(Section):
    """A `weight` column: inverse class frequency, or 1 for normals and pos_weight for frauds."""

    mode: Literal["inverse_frequency", "pos_weight"] = "inverse_frequency"
    pos_weight: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _pos_weight_given(self) -> ClassWeightsSection:
        if self.mode == "pos_weight" and self.pos_weight is None:
            raise ValueError("mode: pos_weight needs pos_weight (a number > 0)")
        return self


class UndersampleSection(Section):
    """Every fraud + about normal_ratio * n_frauds normals drawn by hash."""

    normal_ratio: float = Field(10.0, gt=0)


class BalancingSection(Section):
    """How the training window is balanced: `unionpay_subsets` (one ensemble member per
    subset of every fraud + a disjoint share of the normals), `class_weights` or
    `undersample`, each configured in its sub-section; `seed` of the draws;
    `label_column` must stay `label` (the feature table's label, whatever the export
    calls it: etl.columns maps it)."""

    strategy: Literal["unionpay_subsets", "class_weights", "undersample"] = "unionpay_subsets"
    seed: int = Field(42, ge=0, lt=2**31)
    label_column: str = Field("label", min_length=1)
    unionpay_subsets: UnionPaySubsetsSection = Field(default_factory=UnionPaySubsetsSection)
    class_weights: ClassWeightsSection = Field(default_factory=ClassWeightsSection)
    undersample: UndersampleSection = Field(default_factory=UndersampleSection)
