"""Amount units and currencies: the canonical amount is in major units of one currency.

An export may write amounts as whole numbers of cents (`1050` for 10.50) or in several
currencies beside a currency column; read as written, the features' sums, means and
ratios over a card's window mixed units and currencies without a word (session 40,
data40). This module owns:

- the conversion of each row (`convert`): the number as written (`WRITTEN`, kept for the
  rules) divided by 10^etl.amount_minor_units (`iso4217`: 10^the decimals of the row's
  currency, `decimals`) and multiplied by the rate of the row's currency to
  etl.currency.base; a currency without a rate converts to null, which the rule
  `unknown_currency` quarantines first (fraud_app.etl.rules, which owns the rules);
- the currency column (`currency_source`): the one etl.columns.currency maps when
  etl.currency is set, else an unmapped column named currency, ccy, cur or currency_code,
  staged as `CURRENCY` (the code folded: trimmed, upper case, 36 as 036);
- `summarise`: the staged rows that passed the rules summarised when there is something
  to ask (a currency column: one rollup; a first load whose unit the config does not
  state: the aggregates of `summary_columns`, computed as the stage is written by
  fraud_app.etl.stage_summary, no job of their own): the rows per currency (the ETL report's `currencies`) and the amounts'
  integrality and median (as written, before a rate: `staged_columns`), with a WARNING
  for an unmapped currency column holding several currencies and one for amounts that
  look like minor units (`looks_minor`); `check_decimals`: a WARNING for one
  etl.amount_minor_units over currencies of other ISO 4217 decimals.

Does not own the settings (fraud_app.etl.amount_config, fraud_app.etl.config), parsing
the number (fraud_app.etl.parsing), or the report's `amount_reading` and its check on an
append (fraud_app.etl.report_readings, session 55).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.errors import SchemaError
from fraud_app.etl import parsing
from fraud_app.etl.amount_config import ISO4217, NUMERIC_WIDTH
from fraud_app.etl.config import CURRENCY as CURRENCY_KEY
from fraud_app.etl.config import EtlSection
from fraud_app.etl.iso4217 import MINOR_UNITS

logger = logging.getLogger(__name__)

CURRENCY = "__currency"  # the row's currency code, folded (stage and working column)
WRITTEN = "__w_amount"  # the amount as written, parsed, before the unit and the rate
PARSED_AMOUNT = "__p_amount"  # fraud_app.etl.columns.PARSED + "amount"
# names of a currency column an export may hold unmapped (compared without case or blanks)
CURRENCY_NAMES = ("currency", "ccy", "cur", "currency_code", "currencycode")
# the minor-unit look: every amount a whole number and their median at least this. Card
# payments in major units have medians of tens (EUR, USD: ~20-60), so in cents ~2,000-6,000;
# whole amounts also come from zero-decimal currencies (JPY, KRW, ...: a false alarm, one
# WARNING; etl.amount_minor_units: 0 says the amounts are major units) and from a cents
# export whose median is under 10.00 (a miss)
MINOR_MEDIAN, MINOR_MIN_ROWS = 1000.0, 20
_SHOWN = 5  # currencies named in a WARNING (the report keeps up to _KEPT)
_KEPT = 20


def converts(cfg: EtlSection) -> bool:
    """Whether the canonical amount differs from the number as written."""
    return bool(cfg.amount_minor_units) or cfg.currency is not None


def currency_source(columns: list[str], cfg: EtlSection, where: str) -> tuple[str | None, bool]:
    """(the input column holding the currency, whether etl.currency reads it): the mapped
    one (SchemaError when the input lacks it), else an unmapped currency-named column
    (for the report and its WARNING only), else None."""
    if cfg.currency is not None:
        source = cfg.source_for(CURRENCY_KEY)
        if source not in columns:
            raise SchemaError(
                f"ETL input {where} lacks the currency column (looked for {source!r}: "
                f"etl.columns.currency), which etl.currency needs to read each row's "
                f"currency. Columns present: {sorted(columns)}. Map it under "
                "etl.columns.currency, or remove etl.currency if the export is in one currency"
            )
        return source, True
    mapped = set(cfg.columns.values())
    for name in columns:
        if name not in mapped and name.strip().casefold() in CURRENCY_NAMES:
            return name, False
    return None, False


def currency_column(src: Column | None) -> Column:
    """The currency code folded as fraud_app.etl.amount_config.fold_currency folds the config's."""
    if src is None:
        return F.lit(None).cast("string")
    # a numeric code written by a float ('978.0': pandas writes an integer column with a
    # gap as float64) is the code 978, as an id's '123.0' is 123: every row of such a
    # column was quarantined as `unknown_currency` "currency '978.0'"
    code = F.upper(F.regexp_replace(parsing.text(src), parsing.INTEGRAL_DECIMAL, "$1"))
    # a numeric code of an integer column lost its zeros: 36 is 036 (AUD), as in the config
    short = code.rlike(f"^[0-9]{{1,{NUMERIC_WIDTH - 1}}}$")
    return F.when(short, F.lpad(code, NUMERIC_WIDTH, "0")).otherwise(code)


def by_currency(values: Mapping[str, object]) -> Column:
    """The value of the row's currency (null for a currency not in `values`)."""
    lookup = F.create_map(*[F.lit(x) for c, v in sorted(values.items()) for x in (c, v)])
    return F.element_at(lookup, F.col(CURRENCY))


def decimals(cfg: EtlSection) -> Column:
    """The row's currency's decimals under etl.amount_minor_units: iso4217 (which the
    config refuses without etl.currency)."""
    return by_currency(cfg.currency.exponents() if cfg.currency is not None else {})


def convert(df: DataFrame, cfg: EtlSection) -> DataFrame:
    """`__p_amount` in major units of etl.currency.base; `WRITTEN` the number as written.
    Unchanged (no column added) when nothing converts."""
    if not converts(cfg):
        return df
    written = F.col(PARSED_AMOUNT)
    k = cfg.amount_minor_units
    if k == ISO4217 and cfg.currency is not None:
        tens = {c: 10.0**e for c, e in cfg.currency.exponents().items()}
        major = written / by_currency(tens)
    else:
        major = written / F.lit(10.0**k) if k else written
    if cfg.currency is not None:
        major = major * by_currency(cfg.currency.rate_of())
    return df.withColumns({WRITTEN: written, PARSED_AMOUNT: major})


def unit_said(cfg: EtlSection) -> str:
    """What the published amount is, for a detail beside the amount as written."""
    said = []
    if cfg.amount_minor_units:
        said.append(f"etl.amount_minor_units {cfg.amount_minor_units}")
    if cfg.currency is not None:
        said.append(f"{cfg.currency.base}, etl.currency")
    return "; ".join(said)


def check_decimals(cfg: EtlSection) -> None:
    """A WARNING when one number of decimals (etl.amount_minor_units 1-4) reads currencies
    whose ISO 4217 decimals differ: an export in minor units writes JPY 1000 for 1000 yen,
    which 2 publishes as 10.00 yen."""
    k = cfg.amount_minor_units
    if not k or k == ISO4217 or cfg.currency is None:
        return
    other = {c: MINOR_UNITS[c] for c in cfg.currency.accepted() if MINOR_UNITS.get(c, k) != k}
    if other:
        shown = ", ".join(f"{c} {e}" for c, e in other.items())
        logger.warning(
            "ETL: etl.amount_minor_units %s divides every amount by 10^%s, but etl.currency "
            "accepts currencies of other decimals in ISO 4217 (%s): an export in minor units "
            "writes their amounts with those decimals (JPY 1000 is 1000 yen, which this "
            "publishes as %g yen). Set etl.amount_minor_units: %s to read each currency's own "
            "decimals; if the export really writes them with %s, say so under "
            "etl.currency.minor_units with %s",
            k, k, shown, 1000 / 10**k, ISO4217, k, ISO4217,
        )  # fmt: skip


@dataclass(frozen=True)
class AmountSummary:
    """What `summarise` found: the rows per currency of `column` (the report's
    `currencies`, most first, at most _KEPT) and, when the amounts look like minor units,
    their rows and median (`looks_minor`)."""

    column: str | None = None
    currencies: dict[str, int] = field(default_factory=dict)
    looks_minor: dict[str, float] = field(default_factory=dict)


def _unit_open(cfg: EtlSection) -> bool:
    """Whether the amounts' unit is a question: the config states none (with rates too:
    the look is asked of the amounts as written, `staged_columns`; a cents export with
    rates and no unit was published 100 times too large without a word)."""
    return cfg.amount_minor_units is None


def staged_columns(cfg: EtlSection) -> dict[str, Column]:
    """The working columns the stage keeps for the look: the amounts as written when the
    unit is open and rates convert them (the published ones are then fractional)."""
    return {WRITTEN: F.col(WRITTEN)} if _unit_open(cfg) and converts(cfg) else {}


def _measures(ok: Column, cfg: EtlSection) -> dict[str, Column]:
    written = F.col(WRITTEN) if staged_columns(cfg) else F.col("amount")
    amount = F.when(ok, written)
    return {
        "n": F.count(amount),
        "fractional": F.count(F.when(ok & (written % 1 != 0), True)),
        "median": F.percentile_approx(amount, 0.5, 10_000),
    }


def summary_columns(cfg: EtlSection) -> dict[str, Column]:
    """The unit's aggregates over the staged rows' published-bound ones (no reason), for
    fraud_app.etl.stage_summary to compute as the stage is written: asked whenever the
    unit is open (whether the run is a first load is known only after staging); read by
    `summarise` when there is no currency column."""
    if not _unit_open(cfg):
        return {}
    return {f"__amount_{k}": c for k, c in _measures(F.col("reason").isNull(), cfg).items()}


def summarise(
    stage: DataFrame,
    cfg: EtlSection,
    source: tuple[str | None, bool],
    first_load: bool,
    metrics: dict | None = None,
) -> AmountSummary:
    """The amounts' summary of the published-bound staged rows: without a currency column
    from `metrics` (the values of `summary_columns`, observed as the stage was written;
    one aggregation when they are missing), with one a rollup (one row per currency and
    the total); nothing when there is nothing to ask; the WARNINGs."""
    check_decimals(cfg)
    column, mapped = source
    ask_unit = first_load and _unit_open(cfg)
    if column is None and not ask_unit:
        return AmountSummary()
    rows = stage.filter(F.col("reason").isNull())
    measures = tuple(c.alias(k) for k, c in _measures(F.lit(True), cfg).items())
    if column is None:
        names = {f"__amount_{k}": k for k in ("n", "fractional", "median")}
        if metrics is not None and set(names) <= set(metrics):
            total = {k: metrics[n] for n, k in names.items()}
        else:  # one global aggregate: one job
            total = rows.agg(*measures).first()
        found = {}
    else:
        total, found = _per_currency(rows, measures)
    if total is None or not total["n"]:
        return AmountSummary(column=column)
    if column is not None and not mapped and len(found) > 1:
        _warn_currencies(column, found)
    looks = {}
    if ask_unit and _looks_minor(total):
        looks = {"rows": int(total["n"]), "median": float(total["median"])}
        _warn_minor(looks)
    return AmountSummary(column=column, currencies=found, looks_minor=looks)


def _per_currency(rows: DataFrame, measures: tuple[Column, ...]) -> tuple[object, dict[str, int]]:
    """(the total's measures, {currency: rows} most first, at most _KEPT): one rollup."""
    counted = (
        rows.rollup(F.col(CURRENCY).alias("cur"))
        .agg(F.grouping_id().alias("total"), *measures)
        .orderBy(F.desc("total"), F.desc("n"), F.asc("cur"))
        .limit(_KEPT + 1)
        .collect()
    )
    total = next((r for r in counted if r["total"]), None)
    found = {(r["cur"] if r["cur"] is not None else ""): int(r["n"])
             for r in counted if not r["total"]}  # fmt: skip
    return total, found


def _looks_minor(total) -> bool:
    return (
        total["n"] >= MINOR_MIN_ROWS
        and total["fractional"] == 0
        and total["median"] is not None
        and total["median"] >= MINOR_MEDIAN
    )


def _warn_currencies(column: str, found: dict[str, int]) -> None:
    shown = ", ".join(f"{c or '(empty)'!r} {n}" for c, n in list(found.items())[:_SHOWN])
    more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
    logger.warning(
        "ETL: the input's column %r holds %d currencies: %s%s (rows). The amounts are "
        "published as written, so a card's sums, means and ratios add up different "
        "currencies. Map the column (etl.columns.currency: %s) and set etl.currency: "
        "base (the currency of the canonical amounts; rows in others are quarantined) "
        "and rates to it for the others, e.g. {base: %s, rates: {%s: <rate>}}",
        column, len(found), shown, more, column, next(iter(found)) or "EUR",
        list(found)[1] or "USD",
    )  # fmt: skip


def _warn_minor(looks: dict[str, float]) -> None:
    logger.warning(
        "ETL: every one of the %d amounts that passed the rules is a whole number and their median is "
        "%g: they look like minor units (cents), which the features would read as major "
        "units (a 10.50 payment as 1050). If they are minor units, set "
        "etl.amount_minor_units: 2 (the currency's decimals; iso4217 reads each row's "
        "currency's own, with etl.currency) and run etl again; if they are "
        "major units (a currency without decimals, such as JPY), set etl.amount_minor_units: "
        "0, which also silences this warning",
        looks["rows"], looks["median"],
    )  # fmt: skip
