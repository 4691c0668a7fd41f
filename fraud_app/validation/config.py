"""`validation` config section: thresholds and severities of the data checks."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fraud_app.config_base import Section

Severity = Literal["error", "warning"]


class CanonicalChecks(Section):
    """Checks of the canonical transaction table (fraud_app.validation.suites lists them).

    reference_time: "now" for the freshness check, which wants the newest timestamp in
      [reference_time - max_staleness_hours, reference_time] (so future timestamps fail
      too); naive = UTC, None = the wall clock. Historical or generated data needs it
      set, e.g. to the end of the period.
    severities: {check name: error|warning} overriding a check's default severity,
      e.g. {"timestamp:freshness": "error"}.
    unlabelled_grace_days: unlabelled rows older than features.label_delay_days + this
      (before reference_time) get one WARNING naming their count and oldest event_date:
      the label feed (`fraud-app labels`) lags. Never a failure.
    min_day_volume_ratio: a date between the data's first and last with fewer rows than
      this x its usual volume (the median of the 7 dates either side that hold rows), none
      at all included, is incomplete: an outage, a partial or a cut delivery. The check
      `event_date:volume` (a warning unless `severities` says error) names such dates;
      `features`, `score` and `train` name those in the history their window features read
      (they undercount there). 0 turns it off (e.g. data with days of no business).
    The suite also checks that each row's event_date is the UTC date of its timestamp
    (`event_date:matches_timestamp`, an error: a row in another day's partition), and
    warns when an optional column that etl.columns maps is null in every row
    (`<column>:not_all_null`; not label_time, null in every row in delay-only mode).
    """

    # 0 accepts zero-amount authorisations; negative admits refunds, as etl.bounds.min_amount
    # does (it was ge=0: an export with refunds kept by the ETL failed amount:range, whose
    # message named this setting, which then refused the value it needed)
    min_amount: float = Field(0.0, allow_inf_nan=False)  # ge=0 had refused NaN too
    max_amount: float = Field(1_000_000.0, gt=0)
    reference_time: dt.datetime | None = None
    max_staleness_hours: float = Field(48.0, gt=0)
    label_rate_min: float = Field(0.0005, ge=0, le=1)
    label_rate_max: float = Field(0.05, ge=0, le=1)
    severities: dict[str, Severity] = Field(default_factory=dict)
    unlabelled_grace_days: float = Field(7.0, ge=0, le=3650)
    min_day_volume_ratio: float = Field(0.25, ge=0, lt=1)

    @model_validator(mode="after")
    def _rate_bounds(self) -> CanonicalChecks:
        if self.min_amount >= self.max_amount:
            raise ValueError(
                f"min_amount ({self.min_amount}) must be < max_amount ({self.max_amount})"
            )
        if self.label_rate_min > self.label_rate_max:
            raise ValueError(
                f"label_rate_min ({self.label_rate_min}) must be <= label_rate_max "
                f"({self.label_rate_max})"
            )
        return self

    @field_validator("severities")
    @classmethod
    def _known_checks(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        """Checked when the config is read (it was at `validate`: `fraud-app run` met a
        misspelt check name only after its ETL). Lazy import: suites imports this module."""
        if value:
            from fraud_app.validation.suites import unknown_severity_names

            problem = unknown_severity_names(value)
            if problem:
                raise ValueError(problem)
        return value


class FeatureRange(Section):
    """Expected range of one feature column; a bound left out is only 'finite'.
    nullable: nulls allowed (`<column>:not_null` not checked), but not in every row:
    `<column>:not_all_null` fails (at `severity`) when the column holds no value at all,
    which carries no information (an input joined from nothing, a window never filled)."""

    min: float | None = None
    max: float | None = None
    nullable: bool = False
    severity: Severity = "error"

    @model_validator(mode="after")
    def _ordered(self) -> FeatureRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class FeatureChecks(Section):
    """Generic checks of a feature table.

    Every numeric column (decimals too) except `key_column` and `exclude` must be non-null
    and finite (severity `default_severity`), and a feature of the specs must be a number
    (`<name>:type`, an error); `columns` adds ranges, nullability or a severity per
    column and requires those columns to exist. `key_column` must exist, be unique and be
    in every row (not null).
    """

    key_column: str = Field("transaction_id", min_length=1)
    columns: dict[str, FeatureRange] = Field(default_factory=dict)
    exclude: tuple[str, ...] = ("label", "label_time")
    default_severity: Severity = "error"


class ValidationSection(Section):
    """The Great Expectations suites `fraud-app validate` runs: `canonical` (the ETL's
    table: amounts, freshness, fraud rate, day volumes) and `features` (the feature
    table: keys unique, numbers finite, column ranges), `examples` failing rows shown
    per check, and `fail_on_error` (false: report error-severity failures, exit 0)."""

    canonical: CanonicalChecks = Field(default_factory=CanonicalChecks)
    features: FeatureChecks = Field(default_factory=FeatureChecks)
    examples: int = Field(5, ge=1, le=100)  # failing rows shown per check
    fail_on_error: bool = True  # raise ValidationFailedError on an error-severity failure
