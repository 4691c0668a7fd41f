"""`etl.currency`: the currency of the canonical amounts and the fixed rates that convert
other currencies to it; `fold_currency`, the one rule that compares currency codes; the
checks of `etl.amount_minor_units` (`minor_units_setting`, `check_amount_settings`: a number
of decimals for every row, or `iso4217`, each row's currency's own, fraud_app.etl.iso4217).

Owns the settings and their checks; the conversion of each row is fraud_app.etl.amounts',
the rule that quarantines a currency not accepted fraud_app.etl.rules'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from pydantic import Field, field_validator, model_validator

from fraud_app.config_base import Section
from fraud_app.etl.iso4217 import MINOR_UNITS, TWINS

# ISO 4217 letters (EUR) or numbers (978); an export's own short codes fit too
_CODE = re.compile(r"[A-Z0-9]{1,10}")
ISO4217 = "iso4217"  # etl.amount_minor_units: each row's currency's own decimals
NUMERIC_WIDTH = 3  # ISO numeric codes have 3 digits: 36 (an integer column) is 036, AUD


def fold_currency(text: str) -> str:
    """A currency code as the ETL compares it: without surrounding blanks, upper case,
    a code of 1 or 2 digits padded with zeros to 3 (the column's values are folded alike
    by fraud_app.etl.amounts.currency_column)."""
    code = text.strip().upper()
    return code.zfill(NUMERIC_WIDTH) if code.isdigit() and code.isascii() else code


def _code(value: object, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 100:
        # YAML reads 012 as the octal 10 and 044 as 36 (AUD's code): a numeric code under
        # 100 written unquoted cannot be told from another one
        raise ValueError(
            f"{where}: the number {value} is not read as a currency code: YAML reads an "
            "unquoted code with a leading zero as an octal number (012 is 10, 044 is 36); "
            "quote numeric codes under 100, e.g. '036'"
        )
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _CODE.fullmatch(fold_currency(text)):
        raise ValueError(
            f"{where}: {value!r} is not a currency code; expected letters or digits such as "
            "EUR, USD or 978 (compared without case)"
        )
    return fold_currency(text)


def minor_units_setting(value: object) -> object:
    """etl.amount_minor_units as given: a whole number 0-4 or iso4217 (any case); a
    boolean (`yes` read as 1) and anything else are refused with what is expected."""
    if isinstance(value, str) and value.strip().casefold() == ISO4217:
        return ISO4217
    if isinstance(value, str) and value.strip() in ("0", "1", "2", "3", "4"):
        return int(value)  # a quoted '2' read as 2, as before iso4217 (and as other numbers)
    if isinstance(value, float) and value in (0.0, 1.0, 2.0, 3.0, 4.0):
        return int(value)  # `2.0` read as 2, as pydantic's int did before iso4217
    if value is None or (
        isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4
    ):
        return value
    raise ValueError(
        f"etl.amount_minor_units: expected a whole number 0-4 (the decimals of the amounts' "
        f"minor unit, e.g. 2 for cents) or {ISO4217} (each row's currency's own decimals, "
        f"read from its currency column: JPY 0, EUR 2, KWD 3); received {value!r}"
    )


def check_amount_settings(
    column: str | None, units: int | str | None, currency: EtlCurrency | None
) -> None:
    """etl.columns.currency (`column`) needs etl.currency (read for nothing, the amounts
    published as written, mixed); iso4217 needs etl.currency (the row's currency) and a
    minor unit for every currency it accepts; etl.currency.minor_units applies with
    iso4217 only (else it was ignored)."""
    if column is not None and currency is None:
        raise ValueError(
            f"etl.columns maps currency ({column!r}) but etl.currency is not set: expected "
            "etl.currency.base (the one currency accepted, e.g. EUR) and, to convert "
            "others, etl.currency.rates (e.g. {USD: 0.92})"
        )
    if units == ISO4217 and currency is None:
        raise ValueError(
            f"etl.amount_minor_units {ISO4217} reads each row's decimals from its currency, "
            "but etl.currency is not set: set etl.currency.base (and etl.columns.currency "
            "when the column is not named currency), or give one number of decimals"
        )
    if currency is None:
        return
    if currency.minor_units and units != ISO4217:
        raise ValueError(
            f"etl.currency.minor_units {currency.minor_units} applies only with "
            f"etl.amount_minor_units: {ISO4217} (now {'not set' if units is None else units}): "
            "set that, or remove it"
        )
    if units == ISO4217:
        _check_overrides(currency)
        unknown = [c for c in currency.accepted() if c not in currency.exponents()]
        if unknown:
            raise ValueError(
                f"etl.amount_minor_units {ISO4217}: the built-in ISO 4217 table has no minor "
                f"unit for {', '.join(unknown)} (accepted by etl.currency): give its decimals "
                f"under etl.currency.minor_units, e.g. {{{unknown[0]}: 2}}"
            )


def _check_overrides(currency: EtlCurrency) -> None:
    """Each etl.currency.minor_units code is accepted, and so is no other ISO 4217 code of
    the same currency without it: `{ISK: 2}` with the rows' numeric 352 accepted applied
    to no row (352 read with ISO's 0 decimals, silently), and with both ISK and 352
    accepted one currency was read two ways."""
    accepted = currency.accepted()
    for code, units in currency.minor_units.items():
        twins = [t for t in TWINS.get(code, ()) if t in accepted]
        if code not in accepted:
            said = (f"; {' / '.join(twins)} (its other ISO 4217 code) is: write "
                    f"{{{twins[0]}: {units}}}" if twins else f": add {code} under etl.currency.rates "
                    "with its rate, or remove it")  # fmt: skip
            raise ValueError(
                f"etl.currency.minor_units {code}: not a currency etl.currency accepts "
                f"({', '.join(accepted)}), so it would apply to no row{said}"
            )
        missing = [t for t in twins if t not in currency.minor_units]
        if missing:
            raise ValueError(
                f"etl.currency.minor_units gives {code} {units} decimals, but etl.currency "
                f"also accepts {missing[0]}, its other ISO 4217 code, which would be read "
                f"with {MINOR_UNITS[missing[0]]}: add {{{missing[0]}: {units}}} too"
            )


def _by_code(value: object, where: str, check: Callable[[str, object], None]) -> object:
    """A {currency code: value} setting with its codes folded (`_code`), each named once,
    and `check(code, value)` refusing a value; anything but a mapping left to pydantic."""
    if not isinstance(value, dict):
        return value
    folded: dict[str, object] = {}
    for code, item in value.items():
        key = _code(code, where)
        if key in folded:
            raise ValueError(f"{where} names {key} twice (codes are compared without case)")
        check(key, item)
        folded[key] = item
    return folded


def _check_rate(key: str, rate: object) -> None:
    if isinstance(rate, bool):  # `USD: yes` read as the rate 1.0 (review41a)
        raise ValueError(
            f"etl.currency.rates {key}: expected a number (its rate to the base), not "
            f"the boolean {str(rate).lower()} (YAML reads true/false, yes/no and "
            "on/off as booleans)"
        )


def _check_units(key: str, units: object) -> None:
    if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= 4:
        raise ValueError(
            f"etl.currency.minor_units {key}: expected a whole number 0-4 (the "
            f"decimals of its amounts, e.g. JPY: 0, USD: 2); received {units!r}"
        )


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
    minor_units: {currency: decimals 0-4}, with etl.amount_minor_units: iso4217 only: a
      currency's decimals where the export departs from ISO 4217 (some processors write
      ISK or HUF with 2), or for a code the built-in table lacks (an export's own code);
      by the code etl.currency accepts (352 for rows of 352: ISK would apply to no row).
    Codes are compared without case or surrounding blanks; numeric codes of 1 or 2 digits
    as their 3-digit form (36 is 036); quote numeric codes under 100 (YAML reads 036 as an
    octal number).
    """

    base: str
    rates: dict[str, float] = Field(default_factory=dict)
    minor_units: dict[str, int] = Field(default_factory=dict)

    @field_validator("base", mode="before")
    @classmethod
    def _base_code(cls, value: object) -> str:
        return _code(value, "etl.currency.base")

    @field_validator("rates", mode="before")
    @classmethod
    def _rate_codes(cls, value: object) -> object:
        return _by_code(value, "etl.currency.rates", _check_rate)

    @field_validator("minor_units", mode="before")
    @classmethod
    def _unit_codes(cls, value: object) -> object:
        return _by_code(value, "etl.currency.minor_units", _check_units)

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

    def exponents(self) -> dict[str, int]:
        """{currency: decimals} of the accepted currencies etl.currency.minor_units or the
        ISO 4217 table knows (iso4217; check_amount_settings refuses an accepted one without)."""
        known = {**MINOR_UNITS, **self.minor_units}
        return {c: known[c] for c in self.accepted() if c in known}

    def rate_of(self) -> dict[str, float]:
        """{currency: rate to base} of every accepted currency (the base's is 1)."""
        return {**self.rates, self.base: 1.0}
