"""The window kinds: features computed over an entity's earlier transactions.

One class per `kind:` of a spec file whose value is an aggregate over a window of the
entity's (or a `same:` pair's) rows before t: `window_agg`, `amount_ratio`,
`time_since_previous`, `fraud_rate`, `amount_zscore`, `velocity_ratio`. Each instance is
one output column with a deterministic name:

    WindowAggregate(entity="card", aggregation="sum", window="7d").name
    -> 'card_amount_sum_7d'

This module owns these kinds' fields, validation and names. It does not own their bases
(`window` / `lag` / `frame`: fraud_app.features.windowed; the entity / `same:` keys:
fraud_app.features.keyed), the `novelty` window kind (fraud_app.features.novelty), the
registry of kinds (fraud_app.features.definitions.KINDS) or their Spark columns
(fraud_app.features.windows, where the point-in-time semantics on each class are
implemented).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from fraud_app.features.aggregations import AGGREGATIONS
from fraud_app.features.base import Entity, model_input
from fraud_app.features.durations import parse_duration
from fraud_app.features.keyed import Keyed
from fraud_app.features.windowed import (
    LABEL_DELAY,
    EntityWindow,
    FramedWindow,
    duration_text,
    lag_seconds,
)


class WindowAggregate(FramedWindow):
    """`aggregation` of `column` over the entity's transactions in [t - window, t).

    Strictly before the current transaction's timestamp t: other transactions with the
    same timestamp are not included (a tie is not "before"). With include_current the
    current row itself (and only it) is added, and the name ends in `_incl`.

    `relative_to: B` divides the aggregate by the mean of `column` over the entity's
    transactions in [t - B, t) (its own usual level, so the value has no currency unit:
    `card_amount_min_1h_to_mean_30d`, the smallest amount of the last hour against the
    card's 30-day mean). Undefined (no value in the window for mean, min or max, fewer
    than two for std, or no baseline, or a baseline mean of 0) -> fill, by default 1.0
    ("usual"); a `sum` over a window without values is 0, so its ratio is 0. Not for
    `count` (velocity_ratio is the relative count).

    `aggregation: count_distinct` counts the distinct non-null values of `column` (any
    type: `column: merchant_id` gives `card_merchant_id_count_distinct_24h`, the merchants
    the card paid in the last day). Exact (the size of a set, not a sketch), so it does not
    depend on row order; it always slides (no running form) and takes no `relative_to`.
    """

    kind: ClassVar[str] = "window_agg"
    aggregation: str
    column: str = "amount"
    include_current: bool = False
    relative_to: str | None = None

    _column = field_validator("column")(model_input)

    @field_validator("relative_to", mode="before")
    @classmethod
    def _relative_duration(cls, value: object) -> str | None:
        return None if value is None else duration_text(value)

    @property
    def relative_s(self) -> int | None:
        return None if self.relative_to is None else parse_duration(self.relative_to)

    @property
    def fill(self) -> float:
        if self.fill_value is None and self.relative_to is not None:
            return 1.0
        return super().fill

    @field_validator("aggregation")
    @classmethod
    def _known_aggregation(cls, value: str) -> str:
        if value not in AGGREGATIONS:
            raise ValueError(f"must be one of {sorted(AGGREGATIONS)}. Received: {value!r}")
        return value

    @property
    def name(self) -> str:
        what = "count" if self.aggregation == "count" else f"{self.column}_{self.aggregation}"
        suffix = "_incl" if self.include_current else ""
        relative = "" if self.relative_to is None else f"_to_mean_{self.relative_to}"
        return f"{self.prefix}_{what}_{self.window_name}{self.lag_suffix}{suffix}{relative}"

    @model_validator(mode="after")
    def _current_not_lagged(self) -> WindowAggregate:
        if self.include_current and self.lag_suffix:
            raise ValueError(
                "include_current cannot be combined with a lag (the window ends before t)"
            )
        agg = AGGREGATIONS[self.aggregation]
        if not agg.numeric and self.column in self.key_columns:
            raise ValueError(
                f"{self.aggregation} of {self.column!r}, a key of the window, is always 1: "
                "count another column (e.g. merchant_id for a card)"
            )
        if self.relative_to is not None and not (agg.needs_column and agg.numeric):
            valid = sorted(a for a, g in AGGREGATIONS.items() if g.needs_column and g.numeric)
            raise ValueError(
                f"relative_to needs a numeric aggregation of `column` ({valid}), not "
                f"{self.aggregation!r}: velocity_ratio is the relative count"
            )
        return self

    @property
    def inputs(self) -> tuple[str, ...]:
        if not AGGREGATIONS[self.aggregation].needs_column:
            return self.key_columns
        return (*self.key_columns, self.column)

    def inert_keys(self) -> dict[str, str]:
        if self.given("column") and not AGGREGATIONS[self.aggregation].needs_column:
            return {
                "column": f"aggregation {self.aggregation!r} counts the rows, whatever "
                "the column (count_distinct counts a column's values)"
            }
        return {}

    @property
    def numeric_inputs(self) -> tuple[str, ...]:
        agg = AGGREGATIONS[self.aggregation]
        return (self.column,) if agg.needs_column and agg.numeric else ()


class AmountRatio(FramedWindow):
    """`column` / mean of `column` over the entity's transactions in [t - window, t).

    Undefined (no previous transaction in the window) -> fill, by default 1.0 ("usual").
    """

    kind: ClassVar[str] = "amount_ratio"
    default_fill: ClassVar[float] = 1.0
    window: str = "30d"
    column: str = "amount"

    _column = field_validator("column")(model_input)

    @property
    def name(self) -> str:
        return f"{self.prefix}_{self.column}_to_mean_{self.window_name}{self.lag_suffix}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.key_columns, self.column)

    @property
    def numeric_inputs(self) -> tuple[str, ...]:
        return (self.column,)


class TimeSincePrevious(Keyed):
    """Seconds since the entity's latest transaction strictly before t, capped at `cap`.

    No previous transaction -> fill, by default the cap ("longer ago than we look").
    """

    kind: ClassVar[str] = "time_since_previous"
    cap: str = "30d"

    _cap = field_validator("cap", mode="before")(duration_text)

    @property
    def cap_s(self) -> int:
        return parse_duration(self.cap)

    @property
    def fill(self) -> float:
        return float(self.cap_s) if self.fill_value is None else self.fill_value

    @property
    def name(self) -> str:
        return f"{self.prefix}_seconds_since_prev"

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.key_columns


class FraudRate(EntityWindow):
    """Share of the entity's past transactions that are KNOWN frauds at time t.

    Window rows: the entity's transactions with timestamp in [t - lag - window, t - lag),
    lag = `lag` when given, else the label delay when `mature_only` (default) else 0.
    A window that ends at the label delay holds only settled labels, so it is as full
    with a known delay only as with label_time; a recent window (lag 0) counts only the
    frauds already confirmed at t. Denominator: all those
    rows (it never depends on labels). Numerator: those with label = 1 whose label was
    known before t (label_known_at < t, see fraud_app.features.labels). Smoothed toward
    `prior` with weight `smoothing`: (frauds + smoothing * prior) / (rows + smoothing).
    """

    kind: ClassVar[str] = "fraud_rate"
    uses_labels: ClassVar[bool] = True
    entity: Entity = "merchant"
    window: str = "30d"
    mature_only: bool = True
    smoothing: float = Field(0.0, ge=0)
    prior: float = Field(0.0, ge=0, le=1)

    def lag_s(self, label_delay_s: int) -> int:
        if self.lag is None:
            return label_delay_s if self.mature_only else 0
        return lag_seconds(self.lag, label_delay_s)

    def inert_keys(self) -> dict[str, str]:
        if self.given("prior") and self.smoothing == 0:
            return {
                "prior": "smoothing is 0: prior is the rate `smoothing` pseudo-rows pull "
                "the rate toward (set smoothing > 0 for it to count)"
            }
        return {}

    @model_validator(mode="after")
    def _lag_or_mature_only(self) -> FraudRate:
        if self.lag is not None and "mature_only" in self.model_fields_set:
            raise ValueError(
                "set lag or mature_only, not both (mature_only: true = lag: label_delay)"
            )
        return self

    def sees_labels_without_label_time(self, label_delay_s: int) -> bool:
        """Whether the window can hold a known fraud when labels are known only by the
        delay (no label_time): a row of [t - lag - W, t - lag) is known at t iff its
        timestamp < t - delay, so the window must reach further back than the delay
        (lag + W > delay). Otherwise (e.g. the recent 7-day window with a 7-day delay)
        the rate is 0 on every row."""
        return self.lag_s(label_delay_s) + self.window_s > label_delay_s

    @property
    def name(self) -> str:
        lag = self.lag if self.lag is not None else (LABEL_DELAY if self.mature_only else "0")
        known = "known_" if lag == "0" else ""
        suffix = "" if lag in ("0", LABEL_DELAY) else f"_lag{lag}"
        return f"{self.prefix}_{known}fraud_rate_{self.window_name}{suffix}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.key_columns, "label")


class AmountZScore(FramedWindow):
    """(column - mean) / sample std of `column` over the entity's window [t - lag - W, t - lag):
    how unusual this amount is for the card's spending profile. Undefined (fewer than 2
    rows, or no spread) -> fill, by default 0.0 ("usual")."""

    kind: ClassVar[str] = "amount_zscore"
    window: str = "30d"
    column: str = "amount"

    _column = field_validator("column")(model_input)

    @property
    def name(self) -> str:
        return f"{self.prefix}_{self.column}_zscore_{self.window_name}{self.lag_suffix}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (*self.key_columns, self.column)

    @property
    def numeric_inputs(self) -> tuple[str, ...]:
        return (self.column,)


class VelocityRatio(FramedWindow):
    """Velocity: the entity's rate in the recent `window` over its rate in the longer
    `baseline` (both ending at t, per second): (agg_W / W) / (agg_B / B), agg = count of
    transactions or sum of `column`. 1 = usual pace; a burst gives >> 1. Undefined (no
    activity in the baseline) -> fill, by default 1.0."""

    kind: ClassVar[str] = "velocity_ratio"
    default_fill: ClassVar[float] = 1.0
    window: str = "1d"
    baseline: str = "30d"
    aggregation: Literal["count", "sum"] = "count"
    column: str = "amount"

    _baseline = field_validator("baseline", mode="before")(duration_text)
    _column = field_validator("column")(model_input)

    @property
    def baseline_s(self) -> int:
        return parse_duration(self.baseline)

    @model_validator(mode="after")
    def _baseline_longer(self) -> VelocityRatio:
        if self.baseline_s <= self.window_s:
            raise ValueError(
                f"baseline ({self.baseline}) must be longer than window ({self.window})"
            )
        if self.lag_suffix:
            raise ValueError("velocity_ratio windows end at t; lag is not supported")
        return self

    @property
    def name(self) -> str:
        what = "count" if self.aggregation == "count" else self.column
        return f"{self.prefix}_{what}_velocity_{self.window_name}_{self.baseline}"

    @property
    def inputs(self) -> tuple[str, ...]:
        if self.aggregation == "count":
            return self.key_columns
        return (*self.key_columns, self.column)

    def inert_keys(self) -> dict[str, str]:
        if self.given("column") and self.aggregation == "count":
            return {
                "column": "aggregation is 'count': the ratio of row counts, whatever the "
                "column (aggregation: sum compares the column's sums)"
            }
        return {}

    @property
    def numeric_inputs(self) -> tuple[str, ...]:
        return () if self.aggregation == "count" else (self.column,)
