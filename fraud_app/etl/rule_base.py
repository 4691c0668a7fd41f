"""The vocabulary the per-row rules of fraud_app.etl.rules are written in: `Rule` (a test
and a human-readable detail, both built lazily as Spark columns) and the columns a rule
reads for a canonical column: its parsed value (`parsed`, `__p_<c>`), its raw text (`raw`,
`__r_<c>`), whether it is missing (empty, or a null marker of fraud_app.etl.id_marks) or
did not parse, and the `<c> '<raw value>'` quotation every detail opens with.

Owns no rule and no order of rules (fraud_app.etl.rules, fraud_app.etl.amount_rules);
the working columns themselves are made by fraud_app.etl.columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from fraud_app.etl.columns import PARSED, RAW
from fraud_app.etl.columns import text_column as _t
from fraud_app.etl.id_marks import MARK, MARKED_COLUMNS
from fraud_app.etl.shared_columns import shared


@dataclass(frozen=True)
class Rule:
    """A row breaks the rule when `broken()` is true; `detail()` says how, for a human."""

    code: str
    doc: str
    broken: Callable[[], Column]
    detail: Callable[[], Column]


def parsed(name: str) -> Column:
    """The typed value (`__p_<name>`; null where it did not parse)."""
    return F.col(PARSED + name)


def raw(name: str) -> Column:
    """The value as the input wrote it, as a string (`__r_<name>`)."""
    return F.col(RAW + name)


def marked(name: str) -> Column:
    """The value means "no value" (fraud_app.etl.id_marks; False for unmarked columns)."""
    return F.col(MARK + name) if name in MARKED_COLUMNS else F.lit(False)


def missing(name: str) -> Column:
    """Empty, or a value fraud_app.etl.id_marks reads as none (`MARK + c`: a null marker,
    etl.missing_ids, a label not known yet)."""
    return _t(name).isNull() | marked(name)


def unparsed(name: str) -> Column:
    """Given, but its parse (fraud_app.etl.columns.parse_columns) gave null."""
    return ~missing(name) & parsed(name).isNull()


@shared
def quoted_value(name: str) -> Column:
    """`<name> '<raw value>'` (`null` for a null), how each detail names the value (built
    once per annotation: fraud_app.etl.shared_columns)."""
    return F.concat(F.lit(f"{name} '"), F.coalesce(raw(name), F.lit("null")), F.lit("'"))


def detail_of(name: str, text: str) -> Callable[[], Column]:
    """A detail: the quoted value, then `text`."""
    return lambda: F.concat(quoted_value(name), F.lit(" " + text))
