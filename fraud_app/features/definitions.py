"""Feature definitions: one frozen, keyword-only, validated model per feature.

Each class is one *kind* of feature (the `kind:` key in a spec file) and one instance
is exactly one output column with a deterministic name (`card_count_24h`,
`card_amount_sum_7d`, `merchant_fraud_rate_30d`, ...). Usable directly from a notebook:

    WindowAggregate(entity="card", aggregation="sum", window="7d").name
    -> 'card_amount_sum_7d'

This module owns the vocabulary and the validation of each kind; their base
(`FeatureDef`, entities) lives in fraud_app.features.base, the entity / `same:` pair
keys of the window kinds in fraud_app.features.keyed, their `window` / `lag` / `frame`
in fraud_app.features.windowed, and the `novelty` kind (a window over each row's
"new to the entity" flag) in fraud_app.features.novelty; reading YAML lives in
fraud_app.features.spec and turning definitions into Spark columns in
fraud_app.features.compile. Point-in-time semantics of each kind are documented on
the class and implemented in fraud_app.features.windows / encodings / rowwise.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from fraud_app.etl.config import known_zone
from fraud_app.features.aggregations import AGGREGATIONS
from fraud_app.features.base import ENTITIES as ENTITIES  # re-exported: the public names
from fraud_app.features.base import Entity, FeatureDef, model_input
from fraud_app.features.durations import parse_duration
from fraud_app.features.keyed import Keyed
from fraud_app.features.keyed import pair_key_column as pair_key_column
from fraud_app.features.novelty import Novelty
from fraud_app.features.windowed import LABEL_DELAY as LABEL_DELAY
from fraud_app.features.windowed import SPARSE_ENTITIES as SPARSE_ENTITIES
from fraud_app.features.windowed import EntityWindow, FramedWindow, duration_text, lag_seconds
from fraud_app.features.windowed import lag_text as lag_text

CALENDAR_PARTS: tuple[str, ...] = ("hour_of_day", "day_of_week", "is_weekend")
_CALENDAR_ZONE = (
    "expected an IANA zone name such as 'America/New_York', 'Europe/Berlin' or 'UTC' (the "
    "clock the calendar parts are read on; leave time_zone out for UTC)"
)
TRANSFORMS: tuple[str, ...] = ("identity", "log1p", "signed_log1p")


class WindowAggregate(FramedWindow):
    """`aggregation` of `column` over the entity's transactions in [t - window, t).

    Strictly before the current transaction's timestamp t: other transactions with the
    same timestamp are not included (a tie is not "before"). With include_current the
    current row itself (and only it) is added, and the name ends in `_incl`.

    `relative_to: B` divides the aggregate by the mean of `column` over the entity's
    transactions in [t - B, t) (its own usual level, so the value has no currency unit:
    `card_amount_min_1h_to_mean_30d`, the smallest amount of the last hour against the
    card's 30-day mean). Undefined (no row in the window, or no baseline, or a baseline
    mean of 0) -> fill, by default 1.0 ("usual"). Not for `count` (velocity_ratio is the
    relative count).

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
    known at t (label_known_at <= t, see fraud_app.features.labels). Smoothed toward
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
        timestamp <= t - delay, so the window must reach further back than the delay
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

    @property
    def numeric_inputs(self) -> tuple[str, ...]:
        return () if self.aggregation == "count" else (self.column,)


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


class Calendar(FeatureDef):
    """hour_of_day (0-23), day_of_week (0 = Monday) or is_weekend (0/1) of the transaction's
    instant on the clock of `time_zone` (an IANA name; DST included), named `<part>_local`;
    without it (the default) in UTC, named `<part>`, also with etl.time_zone set: that
    setting only reads wall clocks; event_date and every day of the framework are UTC
    dates."""

    kind: ClassVar[str] = "calendar"
    part: Literal["hour_of_day", "day_of_week", "is_weekend"]
    time_zone: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value, _CALENDAR_ZONE)

    @property
    def name(self) -> str:
        return self.part if self.time_zone is None else f"{self.part}_local"

    @property
    def inputs(self) -> tuple[str, ...]:
        return ("timestamp",)


class CrossBorder(FeatureDef):
    """1.0 when the merchant's country differs from the card's home country, else 0.0."""

    kind: ClassVar[str] = "cross_border"
    country: str = "country"
    home_country: str = "card_country"

    @property
    def name(self) -> str:
        return "is_cross_border"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.country, self.home_country)


class ColumnValue(FeatureDef):
    """The current row's own numeric column, optionally transformed.

    `log1p`: log(1 + x), for a column >= 0 such as a purchase amount; undefined for
    x <= -1 (the row gets the fill: a refund of -5 would read as an amount of 0), so the
    compiler warns when the data holds such values and `fraud-app features` / `run` refuse
    it on `amount` when etl.bounds.min_amount <= -1. `signed_log1p`: sign(x) * log1p(|x|),
    defined everywhere and the same as log1p for x >= 0, for a column with negative
    values (refunds); a feature of its own (`amount_signed_log1p`)."""

    kind: ClassVar[str] = "column"
    column: str
    transform: Literal["identity", "log1p", "signed_log1p"] = "identity"

    _column = field_validator("column")(model_input)

    @property
    def name(self) -> str:
        return self.column if self.transform == "identity" else f"{self.column}_{self.transform}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def numeric_inputs(self) -> tuple[str, ...]:
        return (self.column,)


def _category(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"must be a category value (a string or an integer). Received: {value!r}")
    text = str(value)
    if not text or len(text) > 64 or not all(c.isalnum() or c in "_-." for c in text):
        raise ValueError(
            "must be 1-64 letters, digits, '_', '-' or '.' (it becomes part of the feature "
            f"name). Received: {value!r}"
        )
    return text


class OneHot(FeatureDef):
    """1.0 when the row's `column` holds `value` (compared as text), 0.0 when it holds
    another value; undefined (the fill, 0.0) when it is null. `values: [...]` gives one
    feature per listed value (a value not listed is 0 in all of them), so that a network
    sees each category on an input of its own instead of through a frequency or fraud-rate
    encoding of it. Reads the current row alone: point in time by construction."""

    kind: ClassVar[str] = "one_hot"
    column: str
    value: str

    _column = field_validator("column")(model_input)
    _value = field_validator("value", mode="before")(_category)

    @property
    def name(self) -> str:
        return f"{self.column}_is_{self.value}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.column,)


KINDS: dict[str, type[FeatureDef]] = {
    cls.kind: cls
    for cls in (
        WindowAggregate,
        AmountRatio,
        TimeSincePrevious,
        FraudRate,
        AmountZScore,
        VelocityRatio,
        Novelty,
        FrequencyEncoding,
        TargetEncoding,
        Calendar,
        CrossBorder,
        ColumnValue,
        OneHot,
    )
}
