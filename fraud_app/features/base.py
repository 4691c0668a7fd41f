"""The base of every feature definition, and the vocabulary all kinds share.

Owns: `FeatureDef` (frozen, keyword-only, `extra="forbid"`), the entities a feature can
be keyed by and the check that a model input is not a non-feature column. The kinds
themselves live in fraud_app.features.window_kinds, encoding_kinds, row_kinds and novelty
(their registry: fraud_app.features.definitions.KINDS); `same:` pairs in
fraud_app.features.keyed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from fraud_app.config_base import no_boolean_for_a_number, validated_copy
from fraud_app.schema import NON_FEATURE_COLUMNS

# Entity name in specs -> canonical column it partitions by.
ENTITIES: dict[str, str] = {"card": "card_id", "merchant": "merchant_id", "device": "device_id"}
Entity = Literal["card", "merchant", "device"]


def model_input(value: str) -> str:
    # compared ignoring case: Spark resolves `LABEL` to the label column (spark.sql.
    # caseSensitive=false), and on a canonical table such a key was skipped as "absent"
    if value.lower() in NON_FEATURE_COLUMNS:
        raise ValueError(
            f"must not be one of the non-feature columns {list(NON_FEATURE_COLUMNS)} "
            f"(they would leak the label or identify rows). Received: {value!r}"
        )
    return value


class FeatureDef(BaseModel):
    """Base of every feature kind. `fill_value` replaces an undefined value (no history)."""

    # allow_inf_nan=False: `smoothing: .inf` made every encoded value the prior and
    # `fill_value: .nan` wrote NaN features (spec files are YAML, where both are floats)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    kind: ClassVar[str]
    default_fill: ClassVar[float] = 0.0
    uses_labels: ClassVar[bool] = False

    fill_value: float | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        return no_boolean_for_a_number(cls, value, info)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        return validated_copy(self, update, deep)  # `update` checked as a spec file's values

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def inputs(self) -> tuple[str, ...]:
        """Canonical columns this feature reads; if any is absent the feature is skipped."""
        raise NotImplementedError

    @property
    def numeric_inputs(self) -> tuple[str, ...]:
        """The inputs whose values it computes with as numbers (a sum, a mean, log1p); the
        compiler refuses a text column there (fraud_app.features.compile)."""
        return ()

    @property
    def fill(self) -> float:
        return self.default_fill if self.fill_value is None else self.fill_value

    def inert_keys(self) -> dict[str, str]:
        """The keys given (with another value than their default) that another of this
        feature's settings makes do nothing: key -> why, naming that setting. A spec entry
        whose every feature ignores a key is refused (fraud_app.features.spec, probe55g)."""
        return {}

    def given(self, key: str) -> bool:
        """Whether `key` was given with another value than its default."""
        default = type(self).model_fields[key].get_default(call_default_factory=True)
        return key in self.model_fields_set and getattr(self, key) != default
