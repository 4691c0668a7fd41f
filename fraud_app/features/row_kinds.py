"""The row-wise kinds: features read from the current row alone (point in time by
construction).

`calendar` (hour, weekday, weekend on a chosen clock), `cross_border`, `column` (a
numeric column, optionally transformed) and `one_hot`. This module owns these kinds'
fields, validation and names; their Spark columns live in fraud_app.features.rowwise,
the registry of kinds in fraud_app.features.definitions.KINDS.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import field_validator, model_validator

from fraud_app.etl.config import known_zone
from fraud_app.features.base import FeatureDef, model_input
from fraud_app.schema import code_spelling

CALENDAR_PARTS: tuple[str, ...] = ("hour_of_day", "day_of_week", "is_weekend")
_CALENDAR_ZONE = (
    "expected an IANA zone name such as 'America/New_York', 'Europe/Berlin' or 'UTC' (the "
    "clock the calendar parts are read on; leave time_zone out for UTC)"
)
TRANSFORMS: tuple[str, ...] = ("identity", "log1p", "signed_log1p")


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

    # `country: fraud_pattern` was accepted: null for a legitimate row, set for a fraud,
    # so the flag was the label itself
    _columns = field_validator("country", "home_country")(model_input)

    @model_validator(mode="after")
    def _two_columns(self) -> CrossBorder:
        if self.country == self.home_country:
            raise ValueError(
                f"country and home_country must be two columns; both are {self.country!r} "
                "(the flag would be 0 on every row)"
            )
        return self

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
    if "." in text:  # it crashed `train`; GX's feature checks of such a column still fail
        raise ValueError(
            "must not hold '.': it becomes part of the feature name, and a '.' in a column "
            "name reads as a struct field to Spark (`channel_is_a.b` is `b` of "
            "`channel_is_a`) and breaks the feature checks of `validate --table features`; "
            f"allowed: 1-64 letters, digits, '_' or '-'. Received: {value!r} (for such a "
            "category use frequency_encoding or target_encoding of the column, or map the "
            "value to one without '.' in your export)"
        )
    if not text or len(text) > 64 or not all(c.isalnum() or c in "_-" for c in text):
        raise ValueError(
            "must be 1-64 letters, digits, '_' or '-' (it becomes part of the feature "
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

    @model_validator(mode="before")
    @classmethod
    def _code_as_published(cls, data: object) -> object:
        """A value of a code column (mcc, country, card_country) spelt as the ETL publishes
        it (schema.code_spelling): `values: [742]` is MCC '0742', which the table holds
        since session 53 (a listed 742 matched no row: the feature was 0 everywhere,
        without a word). YAML reads an unquoted 0742 as the octal 482: quote such codes."""
        if not isinstance(data, dict):
            return data
        value, column = data.get("value"), data.get("column")
        if isinstance(column, str) and isinstance(value, str | int) and not isinstance(value, bool):
            return {**data, "value": code_spelling(column, str(value))}
        return data

    @property
    def name(self) -> str:
        return f"{self.column}_is_{self.value}"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.column,)
