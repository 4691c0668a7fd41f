"""`etl.currency`: the currency of the canonical amounts and the fixed rates that convert
other currencies to it; `fold_currency`, the one rule that compares currency codes.

Owns the setting and its checks; the conversion of each row is fraud_app.etl.amounts',
the rule that quarantines a currency not accepted fraud_app.etl.rules'.
"""

from __future__ import annotations

import math
import re

from pydantic import Field, field_validator, model_validator

from fraud_app.config_base import Section

# ISO 4217 letters (EUR) or numbers (978); an export's own short codes fit too
_CODE = re.compile(r"[A-Z0-9]{1,10}")


def fold_currency(text: str) -> str:
    """A currency code as the ETL compares it: without surrounding blanks, upper case
    (the column's values are folded with Spark's `upper` of the trimmed text)."""
    return text.strip().upper()


def _code(value: object, where: str) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _CODE.fullmatch(fold_currency(text)):
        raise ValueError(
            f"{where}: {value!r} is not a currency code; expected letters or digits such as "
            "EUR, USD or 978 (compared without case)"
        )
    return fold_currency(text)


class EtlCurrency(Section):
    """The currency of the canonical amounts, for an export with a currency column
    (etl.columns.currency; looked for as `currency` when not mapped).

    base: the currency every canonical amount is in, e.g. EUR: a row in it is published
      as written. With no rates it is the one currency expected: a row in any other (or
      with the currency empty) is quarantined as `unknown_currency`, naming the currency
      found and this one.
    rates: {currency: rate to base}, the base currency's units one unit of that currency
      is worth, e.g. {USD: 0.92, GBP: 1.17} with base EUR: a USD 10.00 row is published as
      9.20. The rates are fixed: every row of a currency takes its one rate, whatever its
      date (a table built over months mixes the rate of the day with this one; run etl
      again, etl.mode: replace, after changing them). A currency not listed is quarantined
      as `unknown_currency`, naming it and the configured ones.
    Codes are compared without case or surrounding blanks.
    """

    base: str
    rates: dict[str, float] = Field(default_factory=dict)

    @field_validator("base", mode="before")
    @classmethod
    def _base_code(cls, value: object) -> str:
        return _code(value, "etl.currency.base")

    @field_validator("rates", mode="before")
    @classmethod
    def _rate_codes(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        folded: dict[str, object] = {}
        for code, rate in value.items():
            key = _code(code, "etl.currency.rates")
            if key in folded:
                raise ValueError(f"etl.currency.rates names {key} twice (codes are compared "
                                 "without case)")  # fmt: skip
            if isinstance(rate, bool):  # `USD: yes` read as the rate 1.0 (review41a)
                raise ValueError(
                    f"etl.currency.rates {key}: expected a number (its rate to the base), not "
                    f"the boolean {str(rate).lower()} (YAML reads true/false, yes/no and "
                    "on/off as booleans)"
                )
            folded[key] = rate
        return folded

    @field_validator("rates")
    @classmethod
    def _positive_rates(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {c: r for c, r in value.items() if not (math.isfinite(r) and r > 0)}
        if bad:
            raise ValueError(
                f"etl.currency.rates: {bad} must be positive numbers (the base currency's "
                "units one unit of the currency is worth, e.g. USD: 0.92 with base EUR)"
            )
        return value

    @model_validator(mode="after")
    def _base_not_rated(self) -> EtlCurrency:
        if self.base in self.rates and self.rates[self.base] != 1.0:
            raise ValueError(
                f"etl.currency.rates gives the base currency {self.base} the rate "
                f"{self.rates[self.base]:g}; the base's rate is 1 (leave it out)"
            )
        return self

    def accepted(self) -> tuple[str, ...]:
        """The currencies a row may hold: the base first, then the rated ones."""
        return (self.base, *sorted(c for c in self.rates if c != self.base))

    def rate_of(self) -> dict[str, float]:
        """{currency: rate to base} of every accepted currency (the base's is 1)."""
        return {**self.rates, self.base: 1.0}
