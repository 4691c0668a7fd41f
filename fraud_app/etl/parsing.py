"""Typed parsing of amounts and timestamps as Spark columns, and the words that explain a
value that did not parse: what was expected, and the setting that reads it when the value
looks like another common spelling (a decimal comma, epoch milliseconds, ...).

Owns: `amount`, `timestamp` (parse, never throw: null where a value does not parse, which
a rule then quarantines) and `amount_hint`, `timestamp_hint` (the text of that rule's
detail). Does not own the rules or their order (fraud_app.etl.rules).
"""

from __future__ import annotations

import datetime as dt
import re

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.etl.config import EPOCH_FORMATS, OffsetFormat

TIME_TYPES = (T.TimestampType, T.TimestampNTZType, T.DateType)
# Epoch numbers: seconds from 1e8 (1973-03-03) to 1e11 (year 5138); milliseconds from 1e11
# (after 1973-03-03) up to 1e14. A 10-digit number read as milliseconds is a date in January
# 1970, inside the default bounds: it was accepted silently, so it is refused here. So is a
# small number read as seconds: an offset from the start of the data (PaySim's `step`, in
# hours: 1..743; ULB's `Time`, seconds since its first row) was read as seconds after
# 1970-01-01 and published, a month of hours squeezed into 12 minutes of 1970.
SECONDS_MIN, SECONDS_MAX = 1e8, 1e11
# an offset after etl.timestamp_origin: at most 1e11 seconds (~3,000 years) either way,
# whatever the unit (a larger one overflowed the microseconds; the bounds refuse it anyway)
OFFSET_MAX_SECONDS = 1e11
_EPOCH = dt.datetime(1970, 1, 1)
MILLIS_MIN, MILLIS_MAX = 1e11, 1e14
# a decimal comma, with '.', ' ', NBSP or "'" grouping thousands (1.234,56 / 1 234,5)
_COMMA_NUMBER = r"^[+-]?(\d{1,3}([. \x{00A0}']\d{3})+|\d+)(,\d+)?$"
_GROUPING = r"[. \x{00A0}']"
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_COMMA_GROUPED = r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$"  # 1,234.56
_CURRENCY = r"[$€£¥₹]|(^|[\s\d])[A-Za-z]{3}($|[\s\d])"
_NON_FINITE = r"(?i)^[+-]?(nan|inf|infinity)$"  # read, then quarantined as non_finite_amount
# a negative in parentheses or with a trailing minus, as ledgers and ERP exports write it
_ACCOUNTING_NEGATIVE = r"^\(\s*\d[\d.,' ]*\s*\)$|^\d[\d.,' ]*-$"
# ISO-8601 text must start with a whole date: Spark's cast read a time alone ('10:00:00')
# as that time of the ETL run's own day, and '2024' or '2024-01' as the 1st of the month
_ISO_DATE = r"^[+-]?\d{4,}-\d{1,2}-\d{1,2}"
_TIME_ONLY = r"^T?\d{1,2}:\d{2}"


# blanks at either end: the Unicode spaces (NBSP, tabs, line breaks, ...) and the invisible
# zero-width characters and BOM; F.trim strips only ' ', so 'c1\u00a0' was another card.
# A character set for trim, not a regex: a regex on every value cost ~40% of the ETL's time
BLANKS = "".join(
    chr(c)
    for c in (
        *range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, 0x180E, *range(0x2000, 0x200E),
        0x2028, 0x2029, 0x202F, 0x205F, 0x2060, 0x3000, 0xFEFF,
    )
)  # fmt: skip


def text(src: Column) -> Column:
    """The value as text without blanks at its ends; null when nothing is left."""
    return F.nullif(F.trim(src.cast("string"), F.lit(BLANKS)), F.lit(""))


def plain_number(value: Column) -> Column:
    """A double from text that is a plain number (or NaN / Infinity), else null. Spark's
    cast takes Java's spellings too: '12.5d' and '12.5F' read as 12.5, the hexadecimal
    '0x1p3' as 8.0, a label '1d' as fraud."""
    number = value.rlike(_PLAIN_NUMBER) | value.rlike(_NON_FINITE)
    return F.when(number, value.try_cast("double"))


# floats hold every integer exactly only up to 2^24 (float) / 2^53 (double)
_EXACT_INTEGERS = {T.FloatType: 2.0**24, T.DoubleType: 2.0**53}
# a number in scientific notation: Java's (4.111111111111111E15) or a spreadsheet's
# (4.11111E+15, 1E+15): what an id column becomes when it passed through a float
SCIENTIFIC = r"^[+-]?\d\.\d+[eE][+-]?\d+$|^[+-]?\d+[eE]\+\d+$"


# an id written as a decimal number: a JSON number 12.0 (read as its text), a float column
# exported as text ('123.0', pandas' integers with a gap): the integer part is the id, and
# a fraction (12.5) is no id at all (rule `inexact_id`)
_INTEGRAL_DECIMAL = r"^([+-]?\d+)\.0+$"
INTEGRAL_DECIMAL = _INTEGRAL_DECIMAL  # also a numeric currency code's (fraud_app.etl.amounts)
FRACTIONAL = r"^[+-]?\d*\.\d+$"


def id_text(value: Column, written: bool = False) -> Column:
    """An id's text: Unicode NFC (a 'café' typed on a Mac, NFD, is the 'café' of other
    systems, NFC) and an integral decimal as its integer ('12.0' -> '12'). NFC by ICU4J,
    which Spark ships (`reflect` of a static method; only values with a non-ASCII
    character take the call: ASCII text is NFC already). `written`: the value is text as
    the file wrote it (CSV, JSON, a Parquet string): an integral decimal at or beyond
    2^53 keeps its '.0' (see `float_integer`), for the `inexact_id` rule."""
    nfc = F.call_function("reflect", F.lit("com.ibm.icu.text.Normalizer"), F.lit("compose"),
                          value, F.lit(False))  # fmt: skip
    value = F.when(value.rlike(r"[^\x00-\x7F]"), nfc).otherwise(value)
    integral = F.regexp_replace(value, _INTEGRAL_DECIMAL, "$1")
    if not written:
        return integral
    return F.when(float_integer(value), value).otherwise(integral)


def code_text(value: Column, width: int, written: bool = False) -> Column:
    """A code's text (`id_text`: '5812.0', a JSON 5812.0, a DECIMAL 5812.00 are 5812), an
    all-digit code shorter than its standard's `width` (fraud_app.schema.CODE_WIDTHS)
    padded with zeros: '742', 742 and '0742' are one MCC. A code that is no integer (5812.5,
    5.812E3) is quarantined (`inexact_code`); the same spelling in Python:
    schema.code_spelling."""
    text = id_text(value, written)
    short = text.rlike(r"^\d+$") & (F.length(text) < width)  # lpad cuts a longer text
    return F.when(short, F.lpad(text, width, "0")).otherwise(text)


def float_integer(value: Column) -> Column:
    """Text such as '9100000000000808.0': an integer written by a float (pandas writes an
    id column with a gap as float64, `to_csv` as repr) at or beyond 2^53, where a double
    no longer holds every integer: 9100000000000807 and ...808 were both written
    '9100000000000808.0' and published as one card."""
    return value.rlike(_INTEGRAL_DECIMAL) & (
        F.abs(value.try_cast("double")) >= F.lit(_EXACT_INTEGERS[T.DoubleType])
    )


def is_text(dtype: T.DataType) -> bool:
    """Whether `number_text` of a column of this type is its plain cast to string."""
    return type(dtype) not in _EXACT_INTEGERS


def number_text(src: Column, dtype: T.DataType) -> Column:
    """`src` as text; a float that holds an integer exactly as that integer ('123', never
    '123.0' or '1.0E7'), so an id stored as a float in one file and as an integer or text
    in another stays one id (pandas writes an integer column with a gap as float64).
    Other floats keep Spark's text, scientific notation from 1e7 (see SCIENTIFIC)."""
    limit = _EXACT_INTEGERS.get(type(dtype))
    if limit is None:
        return src.cast("string")
    # the magnitude first: F.floor of a double at or beyond 2^63 overflows its long (ANSI)
    exact = F.when(F.abs(src) < F.lit(limit), src == F.floor(src)).otherwise(F.lit(False))
    return F.when(exact, src.cast("decimal(38,0)").cast("string")).otherwise(src.cast("string"))


def amount(src: Column, dtype: T.DataType, decimal_separator: str, value: Column) -> Column:
    """A double, or null where the text is not a number in the configured spelling.
    `decimal_separator` ',': '1.234,56', '1 234,56' and '12,5' read as 1234.56, 1234.56, 12.5.
    `value`: `text(src)`, the column the caller computed once."""
    if isinstance(dtype, T.NumericType):
        return src.cast("double")
    if decimal_separator == ",":
        plain = F.regexp_replace(F.regexp_replace(value, _GROUPING, ""), ",", ".")
        return F.when(value.rlike(_COMMA_NUMBER), plain.try_cast("double"))
    return plain_number(value)


def amount_hint(value: Column, decimal_separator: str) -> Column:
    """Why an amount did not parse: what is expected, and what the value looks like.
    `value`: the raw value as `text`."""
    if decimal_separator == ",":
        expected = "expected a number with ',' as decimal separator (etl.decimal_separator), e.g. 1234,56 or 1.234,56"
    else:
        expected = "expected a plain number with '.' as decimal point, e.g. 1234.56"
    looks = (
        F.when(value.rlike(_CURRENCY), F.lit(
            "; it holds a currency sign or code: the amount column must hold the number "
            "alone (keep the currency in a column of its own)"))
        .when(F.lit(decimal_separator == ".") & value.rlike(_COMMA_GROUPED),
              F.lit("; it groups thousands with ',': write the number without grouping"))
        .when(F.lit(decimal_separator == ".") & value.rlike(_COMMA_NUMBER) & value.contains(","),
              F.lit("; it looks like a decimal comma: set etl.decimal_separator: ','"))
        .when(F.lit(decimal_separator == ",") & value.rlike(_PLAIN_NUMBER),
              F.lit("; it looks like a decimal point: set etl.decimal_separator: '.'"))
        .when(value.rlike(_ACCOUNTING_NEGATIVE),
              F.lit("; it looks like an accounting negative ((10.50) or 10.50-): write it "
                    "as -10.50 (negative amounts need etl.bounds.min_amount below 0)"))
        .otherwise(F.lit(""))
    )  # fmt: skip
    return F.concat(F.lit(f"is not a number: {expected}"), looks)


def timestamp(
    src: Column,
    dtype: T.DataType,
    fmt: str | None,
    value: Column,
    zone: str | None = None,
    day_end: bool = False,
) -> Column:
    """A timestamp (UTC), or null where the value does not parse with `fmt`.
    `value`: `text(src)`, the column the caller computed once. `zone` (etl.time_zone): the
    zone of wall-clock times without an offset; None = UTC (see `wall_clock`). `day_end`:
    a date alone is the end of that day (`parsed_time`)."""
    parsed = parsed_time(src, dtype, fmt, value, day_end)
    if zone is None:
        return parsed
    naive = wall_clock(dtype, fmt, value)
    if naive is None:
        return parsed
    local = F.to_utc_timestamp(parsed, F.lit(zone))
    return local if naive is True else F.when(naive, local).otherwise(parsed)


# ISO-8601 text without an offset or zone: a date, then an optional time (Spark's cast
# reads '2024-01-05', '2024-01-05 10', '10:00', '10:00:00', fractions with '.' or ',')
_NAIVE_ISO = r"^[+-]?\d{4,}-\d{1,2}-\d{1,2}([T ](\d{1,2}(:\d{1,2}(:\d{1,2}([.,]\d*)?)?)?)?)?$"
# pattern letters of a zone or offset field (Spark's datetime patterns)
_ZONE_FIELDS = re.compile(r"[VzOXxZ]")


def wall_clock(dtype: T.DataType, fmt: str | None, value: Column) -> Column | bool | None:
    """Whether a value is a wall clock without an offset (which etl.time_zone places):
    True for every row, a Column per row (ISO text), None when it is an instant (epoch
    numbers, zone-aware Parquet timestamps, a pattern with a zone field)."""
    if isinstance(dtype, T.TimestampType):
        return None  # an instant (Parquet isAdjustedToUTC, a zone-aware pandas column)
    if isinstance(dtype, (T.TimestampNTZType, T.DateType)):
        return True
    if fmt in EPOCH_FORMATS or isinstance(fmt, OffsetFormat):
        return None  # an epoch or an offset after a UTC origin: an instant
    if fmt:
        return None if _ZONE_FIELDS.search(re.sub(r"'[^']*'", "", fmt)) else True
    return value.rlike(_NAIVE_ISO)


# the columns whose date written without a time of day is read as the END of that day:
# label_time, when a label became known. A chargeback dated 2024-01-05 was known at some
# time that day, not at its midnight: read as midnight, a label was known up to a day early
# to every feature reading it, and one dated the transaction's own day came before it
# (label_time_before_timestamp). The last microsecond of the day (on etl.time_zone's
# clock) keeps the date and is never early (review51c). The ETL report records it. Since
# review54a a delivery whose every label_time is a whole day, some written as midnight
# timestamps (a clock of days), has those midnights read so too (fraud_app.etl.label_clock)
DAY_END_COLUMNS = ("label_time",)
LABEL_TIME_READING = "day_clock_end_of_day"
# the reading of review51c: a date alone as its day's end, a midnight timestamp as written
DATE_ONLY_READING = "date_only_end_of_day"
_DAY_US = 86_400_000_000
_DATE_ONLY_ISO = r"^[+-]?\d{4,}-\d{1,2}-\d{1,2}$"
# pattern letters of a time of day (hour, minute, second, fraction, am-pm)
_TIME_FIELDS = re.compile(r"[HhKkmsSan]")


def date_only(dtype: T.DataType, fmt: str | None, value: Column) -> Column | bool:
    """Whether a time value is a date without a time of day: a Parquet `date`, a pattern
    without time fields (`yyyy-MM-dd`), ISO-8601 text of a date alone (per row)."""
    if isinstance(dtype, T.DateType):
        return True
    if isinstance(dtype, TIME_TYPES) or fmt in EPOCH_FORMATS or isinstance(fmt, OffsetFormat):
        return False
    if fmt:
        return not _TIME_FIELDS.search(re.sub(r"'[^']*'", "", fmt))
    return value.rlike(_DATE_ONLY_ISO)


def parsed_time(
    src: Column, dtype: T.DataType, fmt: str | None, value: Column, day_end: bool = False
) -> Column:
    """The value as a timestamp (a wall clock read as UTC), null where it does not parse;
    `day_end`: a date without a time of day is its last microsecond (DAY_END_COLUMNS)."""
    parsed = _parsed_time(src, dtype, fmt, value)
    only = date_only(dtype, fmt, value) if day_end else False
    if only is False:
        return parsed
    end = F.timestamp_micros(F.unix_micros(parsed) + F.lit(_DAY_US - 1))
    return end if only is True else F.when(only, end).otherwise(parsed)


def _parsed_time(src: Column, dtype: T.DataType, fmt: str | None, value: Column) -> Column:
    if isinstance(dtype, TIME_TYPES):
        return src.cast("timestamp")
    if fmt == "epoch_seconds":
        number = plain_number(value)
        fits = (F.abs(number) >= SECONDS_MIN) & (F.abs(number) < SECONDS_MAX)
        return F.when(fits, F.timestamp_seconds(number))
    if fmt == "epoch_millis":
        number = plain_number(value)
        fits = (F.abs(number) >= MILLIS_MIN) & (F.abs(number) < MILLIS_MAX)
        return F.when(fits, F.timestamp_seconds(number / 1000.0))
    if isinstance(fmt, OffsetFormat):  # origin + number x unit, to the microsecond
        # a number as the amounts read one (etl.decimal_separator; a typed column as is)
        number = amount(src, dtype, fmt.decimal_separator, value)
        seconds = number * F.lit(float(fmt.unit_seconds))
        origin_us = (fmt.origin - _EPOCH) // dt.timedelta(microseconds=1)
        micros = F.round(seconds * F.lit(1e6)).cast("long") + F.lit(origin_us)
        return F.when(F.abs(seconds) < OFFSET_MAX_SECONDS, F.timestamp_micros(micros))
    if fmt:
        return F.try_to_timestamp(value, F.lit(fmt))
    return F.when(value.rlike(_ISO_DATE), F.try_to_timestamp(value))


def timestamp_hint(value: Column, fmt: str | None, setting: str = "etl.timestamp_format") -> Column:
    """Why a timestamp did not parse, naming the setting; an epoch number of the other
    unit (or one given where a date pattern is set) names the setting that reads it.
    `value`: the raw value as `text`; `setting`: the key `fmt` came from."""
    if fmt == "epoch_seconds":
        said = (f"is not epoch seconds ({setting} 'epoch_seconds': a number from 1e8, "
                "1973-03-03, to 1e11)")  # fmt: skip
    elif fmt == "epoch_millis":
        said = (f"is not epoch milliseconds ({setting} 'epoch_millis': a number from "
                "1e11, 1973-03-03, to 1e14)")  # fmt: skip
    elif isinstance(fmt, OffsetFormat):
        said = (f"is not a number of {fmt.unit} after etl.timestamp_origin "
                f"{fmt.origin.isoformat()} ({setting} {str(fmt)!r}: within 1e11 seconds, "
                "~3,000 years, either way)")  # fmt: skip
    elif fmt:
        said = f"does not parse with {setting} {fmt!r}"
    elif setting == "etl.timestamp_format":
        said = "does not parse as an ISO-8601 timestamp (etl.timestamp_format is unset)"
    else:
        said = f"does not parse as an ISO-8601 timestamp ({setting} 'iso8601')"
    number = F.abs(value.try_cast("double"))
    seconds = (number >= SECONDS_MIN) & (number < SECONDS_MAX)  # 1973 .. 5138 as seconds
    millis = (number >= MILLIS_MIN) & (number < MILLIS_MAX)
    offset = value.rlike(r"^\d+(\.\d*)?$") & (number < SECONDS_MIN)
    looks = (
        F.when(F.lit(fmt is None) & value.rlike(_TIME_ONLY),
               F.lit("; it holds a time without a date (expected the date first, e.g. "
                     "2024-01-31T10:00:00; a time alone was read as the ETL run's own day)"))
        .when(F.lit(fmt is None) & value.rlike(r"^[+-]?\d{4}(-\d{1,2})?$"),
              F.lit("; it lacks the day (a year or month alone was read as its first day)"))
        .when(F.lit(bool(fmt) and fmt not in EPOCH_FORMATS) & value.rlike(_ISO_DATE)
              & F.try_to_timestamp(value).isNotNull(),
              F.lit(f"; it looks like ISO-8601 (offsets such as +01:00 or Z are converted to "
                    f"UTC): set {setting}: iso8601"))
        .when(F.lit(isinstance(fmt, OffsetFormat) and fmt.decimal_separator == ".")
              & value.rlike(_COMMA_NUMBER) & value.contains(","),
              F.lit("; it looks like a decimal comma: set etl.decimal_separator: ','"))
        .when(F.lit(isinstance(fmt, OffsetFormat) and fmt.decimal_separator == ",")
              & value.rlike(_PLAIN_NUMBER),
              F.lit("; it looks like a decimal point: set etl.decimal_separator: '.'"))
        .when(F.lit(fmt in EPOCH_FORMATS) & offset,
               F.lit("; it looks like an offset from the start of the data (an hour `step` as "
                     "in PaySim, seconds since the first row), not an epoch: set "
                     f"{setting}: offset_hours (or offset_seconds) and etl.timestamp_origin: "
                     "the instant the offsets count from, e.g. 2017-12-01T00:00:00"))
        .when(F.lit(fmt != "epoch_seconds") & seconds,
               F.lit(f"; it looks like epoch seconds: set {setting}: epoch_seconds"))
        .when(F.lit(fmt != "epoch_millis") & millis,
              F.lit(f"; it looks like epoch milliseconds: set {setting}: epoch_millis"))
        .otherwise(F.lit(""))
    )  # fmt: skip
    return F.concat(F.lit(said), looks)
