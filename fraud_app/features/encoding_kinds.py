"""The snapshot encoding kinds: a categorical column's value as a daily table lookup.

`frequency_encoding` (the value's share of all earlier transactions) and
`target_encoding` (its known fraud rate, smoothed), both as of the start of the row's
refresh period. This module owns these kinds' fields, validation and names; their Spark
tables and join live in fraud_app.features.encodings, the registry of kinds in
fraud_app.features.definitions.KINDS.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from fraud_app.features.base import FeatureDef, model_input
from fraud_app.features.durations import parse_duration
from fraud_app.features.windowed import duration_text


class _Encoding(FeatureDef):
    column: str
    refresh: str = "1d"

    _column = field_validator("column")(model_input)
    _refresh = field_validator("refresh", mode="before")(duration_text)

    @property
    def refresh_s(self) -> int:
        return parse_duration(self.refresh)


class FrequencyEncoding(_Encoding):
    """Share of all transactions before the current refresh period that have this value.

    Snapshot semantics: the tables are as of the start of the UTC period ("1d" = day)
    containing t, so they only use rows with timestamp < that start.
    """

    kind: ClassVar[str] = "frequency_encoding"

    @property
    def name(self) -> str:
        return f"{self.column}_freq"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.column,)


class TargetEncoding(_Encoding):
    """Known fraud rate of this value as of the start of t's refresh period, smoothed.

    Rows counted: timestamp + lag < s (s = period start, lag = label delay when
    mature_only). Frauds counted: those rows with label = 1 and label_known_at < s.
    Value = (frauds + smoothing * prior) / (rows + smoothing), prior = the same ratio
    over all values (the global known fraud rate at s).
    """

    kind: ClassVar[str] = "target_encoding"
    uses_labels: ClassVar[bool] = True
    smoothing: float = Field(20.0, ge=0)
    mature_only: bool = True

    @property
    def name(self) -> str:
        return f"{self.column}_fraud_rate"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.column, "label")
