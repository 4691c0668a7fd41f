"""The rules of a row's amount and its unit: `non_numeric_amount`, `non_finite_amount`,
`unknown_currency` (etl.currency) and `amount_not_minor_units` (etl.amount_minor_units),
and `amount_detail`, the detail of an amount bound that also names the converted amount
the bound compared.

Owns these rules' tests and details; their place in the order of rules and the amount
bounds themselves are fraud_app.etl.rules'; the conversion (`__w_amount`, `__currency`)
and the unit wording are fraud_app.etl.amounts'.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.etl import amounts, iso4217, parsing
from fraud_app.etl.columns import text_column as _t
from fraud_app.etl.config import EtlSection
from fraud_app.etl.rule_base import Rule, detail_of, parsed, quoted_value, unparsed


def amount_detail(cfg: EtlSection, text: str) -> Callable[[], Column]:
    """The bound's detail; with a unit or a rate (fraud_app.etl.amounts) also the amount
    the bound compared, which is not the one written: `amount '105000' (1050.0 in EUR, ...)`."""
    if not amounts.converts(cfg):
        return detail_of("amount", text)
    said = amounts.unit_said(cfg)
    return lambda: F.concat(quoted_value("amount"), F.lit(" ("),
                            parsed("amount").cast("string"),
                            F.lit(f" as published: {said}) {text}"))  # fmt: skip


def amount_rules(cfg: EtlSection) -> tuple[Rule, ...]:
    """`non_numeric_amount`, `non_finite_amount` (its range: fraud_app.etl.rules._bound_rules)."""
    return (
        Rule("non_numeric_amount", "amount is not a number", lambda: unparsed("amount"),
             lambda: F.concat(quoted_value("amount"), F.lit(" "),
                              parsing.amount_hint(_t("amount"), cfg.decimal_separator))),
        Rule("non_finite_amount", "amount is NaN or infinite",
             lambda: F.isnan(parsed("amount")) | (F.abs(parsed("amount")) == float("inf")),
             _non_finite_detail(cfg)),
    )  # fmt: skip


def _non_finite_detail(cfg: EtlSection) -> Callable[[], Column]:
    """`amount '...' is NaN or infinite`; with a unit or a rate, an amount finite as written
    whose conversion overflowed a double is named so (it said "'1e308' is NaN or infinite"
    of a finite 1e308 times a rate of 1e10, naming neither the rate nor the conversion)."""
    plain = detail_of("amount", "is NaN or infinite")
    if not amounts.converts(cfg):
        return plain
    said = amounts.unit_said(cfg)

    def detail() -> Column:
        w = F.col(amounts.WRITTEN)
        finite = ~F.isnan(w) & (F.abs(w) != float("inf"))
        return F.when(finite, F.concat(
            quoted_value("amount"), F.lit(f" is finite as written, but {said} convert it to "),
            parsed("amount").cast("string"),
            F.lit(" (beyond a double): check the rate or the amount"),
        )).otherwise(plain())  # fmt: skip

    return detail


def currency_rules(cfg: EtlSection) -> tuple[Rule, ...]:
    """`unknown_currency` (etl.currency): a row whose currency is not the base and has no
    rate, or is empty; before the amount's rules, as its amount has no canonical value."""
    if cfg.currency is None:
        return ()
    accepted = cfg.currency.accepted()
    cur = F.col(amounts.CURRENCY)
    if len(accepted) == 1:
        said = (f" is not {accepted[0]} (etl.currency.base), the one currency accepted: add "
                "it under etl.currency.rates with its rate to convert it")  # fmt: skip
    else:
        said = (f" has no rate in etl.currency.rates (accepted: {accepted[0]} (base), "
                f"{', '.join(accepted[1:])}): add its rate to convert it")  # fmt: skip
    found = F.concat(F.lit("currency '"), F.coalesce(cur, F.lit("")), F.lit("'"))
    twin_of = _twins_of(accepted)

    def detail() -> Column:
        named = F.when(cur.isNull(), F.lit(
            f"currency is empty: expected {' or '.join(accepted)} (etl.currency)"))  # fmt: skip
        if twin_of:
            # 840 where USD is accepted: the same currency by its other ISO 4217 code
            other = amounts.by_currency(twin_of)
            named = named.when(other.isNotNull(), F.concat(
                found, F.lit(" is the other ISO 4217 code of "), other, F.lit(
                    ", which etl.currency accepts under that code only: add it under "
                    "etl.currency.rates with the same rate (1 for the base) to read it")))  # fmt: skip
        return named.otherwise(F.concat(found, F.lit(said)))

    return (
        Rule("unknown_currency", "currency not etl.currency.base and without a rate",
             lambda: cur.isNull() | ~cur.isin(*accepted), detail),
    )  # fmt: skip


def _twins_of(accepted: tuple[str, ...]) -> dict[str, str]:
    """{code not accepted: the accepted code it is the other ISO 4217 code of} (840: USD)."""
    return {twin: code for code in accepted for twin in iso4217.TWINS.get(code, ())
            if twin not in accepted}  # fmt: skip


def minor_unit_rules(cfg: EtlSection) -> tuple[Rule, ...]:
    """`amount_not_minor_units`: etl.amount_minor_units reads whole numbers; a fraction
    says the export is in major units (10.50 would be published as 0.105)."""
    k = cfg.amount_minor_units
    if not k:
        return ()
    written = F.col(amounts.WRITTEN)
    said = detail_of("amount", f"has a fraction, but etl.amount_minor_units {k} reads each "
                     f"amount as a whole number of 1/{10**k} units (e.g. {10**k * 10 + 50} = "
                     f"10.50): is this export in major units? Then remove the setting"
                     ) if k != amounts.ISO4217 else _iso_fraction_detail(cfg)  # fmt: skip
    return (
        Rule("amount_not_minor_units", "a fraction where etl.amount_minor_units reads integers",
             lambda: written % 1 != 0,  # floor() overflows beyond a long (1e300)
             said),
    )  # fmt: skip


def _iso_fraction_detail(cfg: EtlSection) -> Callable[[], Column]:
    """The detail under etl.amount_minor_units: iso4217, naming the row's currency's decimals."""
    return lambda: F.concat(
        quoted_value("amount"), F.lit(f" has a fraction, but etl.amount_minor_units "
        f"{amounts.ISO4217} reads each amount as a whole number of its currency's minor unit ("),
        F.col(amounts.CURRENCY), F.lit(" has "), amounts.decimals(cfg).cast("string"),
        F.lit(" decimals): is this export in major units? Then remove the setting"),
    )  # fmt: skip
