"""The canonical transaction schema every step after ETL reads.

ETL maps the user's column names onto these; features, balancing, training and
scoring only ever see canonical names. `fraud_pattern` is for analysis only and
is never a model input.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from fraud_app.etl import iso3166


@dataclass(frozen=True)
class Column:
    name: str
    spark_type: str  # Spark SQL DDL type name
    required: bool
    doc: str


CANONICAL_COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", "string", True, "unique id of the transaction"),
    Column("card_id", "string", True, "card (or account) that paid"),
    Column("merchant_id", "string", False, "merchant or terminal that was paid"),
    Column("timestamp", "timestamp", True, "when the transaction happened (UTC)"),
    Column(
        "amount",
        "double",
        True,
        "amount in major units of one currency (etl.amount_minor_units, etl.currency.base)",
    ),
    Column(
        "label",
        "int",
        True,
        "1 = confirmed fraud, 0 = normal, null = not known yet (unlabelled: etl.allow_unlabelled)",
    ),
    Column("label_time", "timestamp", False, "when the label became known (fraud confirmation)"),
    Column("mcc", "string", False, "merchant category code"),
    Column("channel", "string", False, "POS, ECOM or ATM"),
    Column("country", "string", False, "ISO country of the merchant"),
    Column("card_country", "string", False, "ISO country of the card's home"),
    Column("device_id", "string", False, "device used (e-commerce)"),
    Column(
        "fraud_pattern",
        "string",
        False,
        "generator's fraud scenario; analysis only, never a feature",
    ),
)

REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in CANONICAL_COLUMNS if c.required)
# the required columns that are never null: every one but the label, which is null while a
# transaction's label is not known yet (the column itself is always there)
NOT_NULL_COLUMNS: tuple[str, ...] = tuple(c for c in REQUIRED_COLUMNS if c != "label")
LABEL_COLUMNS: tuple[str, ...] = ("label", "label_time")
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in CANONICAL_COLUMNS if not c.required)
ALLOWED_CHANNELS: tuple[str, ...] = ("POS", "ECOM", "ATM")
# code columns and the digits of their standard (ISO 18245 MCC, ISO 3166-1 numeric): an
# all-digit code shorter than its width lost its leading zeros as a number (MCC 0742 read
# by a spreadsheet or pandas as 742), so the ETL pads it back (fraud_app.etl.parsing.
# code_text) and every value compared with a code column (a one_hot `values:` list) is
# spelt the same way (`code_spelling`): '742', 742 and '0742' are one MCC
CODE_WIDTHS: dict[str, int] = {"mcc": 4, "country": 3, "card_country": 3}
# how the published code columns are spelt, recorded in the ETL report (`code_reading`):
# a table whose last report has none was written before session 53 (codes as delivered,
# '5812.0' and '742' kept), and an append onto one that holds such spellings is refused
# (fraud_app.etl.code_reading)
# and since session 54 (probe54a) the country columns in one ISO 3166-1 form, alpha-2
# (fraud_app.etl.country_codes): 'US', 'USA', 'us' and '840' are one country, 'US'. A table
# whose last report records an earlier reading and holds a code this one spells otherwise
# is refused an append the same way; since session 55 'UK' (reserved for the United Kingdom,
# written so by many exports) is 'GB' too, where it was a country of its own
CODE_READING = "integer_text_padded_country_alpha2_uk_gb"
COUNTRY_COLUMNS: tuple[str, ...] = ("country", "card_country")


def code_spelling(column: str, value: str) -> str:
    """`value` as a code of `column` is published: an all-digit value of a code column
    shorter than its standard's width padded with zeros ('742' -> '0742'), an ISO 3166-1
    code of a country column in any form as its alpha-2 code ('usa', '840', '36', 'uk' ->
    'US', 'US', 'AU', 'GB'); else as is."""
    width = CODE_WIDTHS.get(column)
    if width and value.isascii() and value.isdigit() and len(value) < width:
        value = value.zfill(width)
    return iso3166.alpha2(value) if column in COUNTRY_COLUMNS else value


# Columns that must never reach a model as inputs.
NON_FEATURE_COLUMNS: tuple[str, ...] = (
    "transaction_id",
    "label",
    "label_time",
    "fraud_pattern",
    "timestamp",
)
PARTITION_COLUMN = "event_date"


def partition_value(name: str) -> str | None:
    """The date of a partition folder's name (`event_date=2024-01-31` -> `2024-01-31`), None
    for any other name (`_SUCCESS`, `.tmp-*`, `other=1`). Every reader of a table's
    folder names (Hadoop listings, local paths) goes through this one rule."""
    key, eq, value = name.partition("=")
    return value if eq and key == PARTITION_COLUMN else None


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}|\d{8}")  # 2024-01-31, or 20240131 (Airflow's ds_nodash)


def calendar_date(text: str) -> dt.date:
    """A UTC date as a user writes it on the command line, YYYY-MM-DD or YYYYMMDD; ValueError
    for anything else. Python 3.11's date.fromisoformat also reads ISO week dates:
    '2024-W08' is Monday 2024-02-19, so `score --date 2024-W08` scored that Monday alone and
    said nothing of the week's other days (and `--end 2024-W09` ended on a Monday)."""
    if not isinstance(text, str) or not _DAY.fullmatch(text):
        raise ValueError(f"not a date YYYY-MM-DD: {text!r}")
    return dt.date.fromisoformat(text)


_WEEK = re.compile(r"(\d{4})-?W(\d{2})(?:-?(\d))?", re.I)


def week_advice(value) -> str:
    """What to give instead of an ISO week date, for an error's end ('' for anything else):
    the week's own first and last dates ('2025-W10': 2025-03-03 .. 2025-03-09), or the
    day's date ('2024-W08-7': 2024-02-25)."""
    match = _WEEK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return ""
    year, week, day = match.groups()
    try:
        monday = dt.date.fromisocalendar(int(year), int(week), 1)
        named = dt.date.fromisocalendar(int(year), int(week), int(day)) if day else None
    except ValueError:  # week 00, 54, or 53 of a year without one; day 0 or 8
        return " (an ISO week date; give calendar dates, YYYY-MM-DD)"
    if named is not None:
        return f" (an ISO week date; give that day as {named})"
    return (
        " (an ISO week date names one day, its Monday, not a week: give the week's first and "
        f"last dates, --start {monday} --end {monday + dt.timedelta(days=6)})"
    )
