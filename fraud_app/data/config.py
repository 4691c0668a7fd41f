"""`generate` config section: the synthetic transaction generator's knobs.

Owns only the shape of the config; fraud_app.data.generator interprets it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from fraud_app.config_base import Section, name_unknown

FRAUD_PATTERNS: tuple[str, ...] = (
    "compromised_merchant",
    "stolen_card",
    "card_testing",
    "account_takeover",
)
RawFormat = Literal["csv", "parquet", "json"]


class LabelDelay(Section):
    """Days from a fraud to its confirmation: log-normal around `median_days`, clipped."""

    median_days: float = Field(7.0, gt=0)
    sigma: float = Field(0.8, ge=0)
    min_days: float = Field(0.5, ge=0)
    max_days: float = Field(90.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> LabelDelay:
        if not self.min_days <= self.median_days <= self.max_days:
            raise ValueError(
                "label_delay_days needs min_days <= median_days <= max_days. Received: "
                f"{self.min_days}, {self.median_days}, {self.max_days}"
            )
        return self


class GenerateSection(Section):
    """Synthetic card transactions (see fraud_app.data.generator for the model).

    `settlement_delay_days`: normals get label_time = timestamp + this fixed delay, the
    moment the chargeback window closes and "not fraud" becomes known.
    `dirty_fraction`: share of rows corrupted on purpose (bad timestamps, negative/NaN
    amounts, missing ids, duplicates, ...) to demo the ETL quarantine; 0 = clean.
    `label_times`: false = delay-only mode: the data has no label_time column, like most
    real exports (labels are then taken as known features.label_delay_days after the
    transaction, and ETL's column mapping needs no label-time column).
    `n_merchants` is approximate: merchants are laid out on an (MCC, channel, country)
    grid, so the count is rounded to a multiple of the grid size.
    """

    n_transactions: int = Field(200_000, ge=1)
    n_cards: int = Field(20_000, ge=1)
    n_merchants: int = Field(5_000, ge=1)
    start_date: dt.date = dt.date(2024, 1, 1)
    days: int = Field(30, ge=1, le=3660)
    fraud_rate: float = Field(0.005, gt=0, le=0.2)
    pattern_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "compromised_merchant": 0.3,
            "stolen_card": 0.3,
            "card_testing": 0.25,
            "account_takeover": 0.15,
        }
    )
    cross_border_rate: float = Field(0.05, ge=0, le=1)
    label_delay_days: LabelDelay = Field(default_factory=LabelDelay)
    settlement_delay_days: float = Field(30.0, ge=0)
    label_times: bool = True
    seed: int = Field(42, ge=0, lt=2**31)
    output: str | None = None  # None: paths.raw
    format: RawFormat = "csv"
    partitions: int = Field(4, ge=1, le=10_000)
    dirty_fraction: float = Field(0.0, ge=0, le=0.5)

    @model_validator(mode="after")
    def _patterns(self) -> GenerateSection:
        unknown = sorted(set(self.pattern_weights) - set(FRAUD_PATTERNS))
        if unknown:
            raise ValueError(
                f"pattern_weights has unknown pattern(s) {name_unknown(unknown, FRAUD_PATTERNS)}; "
                f"valid: {list(FRAUD_PATTERNS)}"
            )
        if any(w < 0 for w in self.pattern_weights.values()) or not any(
            w > 0 for w in self.pattern_weights.values()
        ):
            raise ValueError(
                "pattern_weights must be >= 0 with at least one > 0. "
                f"Received: {self.pattern_weights}"
            )
        return self

    @model_validator(mode="after")
    def _times_fit(self) -> GenerateSection:
        """The timestamps, and the label times when written, must be dates Spark's timestamps
        hold (<= 9999-12-31): `settlement_delay_days: 1e12` stopped the write half-way with
        DATETIME_OVERFLOW, and a start in 9999-12 wrote label times such as '+10000-01-01'
        (that no reader parses)."""
        room = (dt.date(9999, 12, 31) - self.start_date).days
        label = max(self.settlement_delay_days, self.label_delay_days.max_days)
        end = self.days + (label if self.label_times else 0)
        if end > room:
            parts = "start_date + days" + (
                " + max(settlement_delay_days, label_delay_days.max_days)"
                if self.label_times
                else ""
            )
            raise ValueError(
                f"{parts} = {self.start_date} + {end:g} days is after 9999-12-31, the last "
                "date a timestamp holds; expected an earlier start_date or shorter delays"
            )
        return self
