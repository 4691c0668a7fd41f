"""Name the first rule each row breaks (the raw columns mapped to canonical ones and
parsed by fraud_app.etl.columns, whose names this module re-exports).

Owns the ordered rule registry and `annotate`; column resolution (SchemaError for
missing/unusable columns) and typed parsing that never throws are fraud_app.etl.columns',
`Rule` and the columns rules read are fraud_app.etl.rule_base's (re-exported), the amount's
and its unit's rules fraud_app.etl.amount_rules'. A row
gets the code of the FIRST rule it breaks, so each quarantined row is counted under
exactly one reason. Does not own reading, writing or deduplication.

Working columns added to the raw DataFrame: `__t_<canonical>` (the raw value as text
without blanks at its ends, parsing.text), `__r_<canonical>` (the raw value as a string)
and `__p_<canonical>` (the parsed, typed value); `annotate` adds `__b_<i>` (rule i broken)
and drops them again. The caller renames the input columns to `__in_<i>` first, so no
input column name can collide with these.

Each working column is its own projection and is referenced by name: the trim and the
rule tests are evaluated once per row. Written inline, Spark's plan repeated them (108
set-trims per row, every rule test for `reason` and again for `reason_detail`); Spark
does not fold a non-trivial column referenced twice into the projection above it.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from fraud_app.etl import parsing
from fraud_app.etl.amount_rules import amount_detail, amount_rules, currency_rules, minor_unit_rules
from fraud_app.etl.columns import PARSED as PARSED
from fraud_app.etl.columns import RAW as RAW
from fraud_app.etl.columns import parse_columns as parse_columns
from fraud_app.etl.columns import required_fields as required_fields
from fraud_app.etl.columns import resolve_sources as resolve_sources
from fraud_app.etl.columns import text_column as _t
from fraud_app.etl.config import EtlSection
from fraud_app.etl.id_marks import ID_COLUMNS, is_placeholder
from fraud_app.etl.local_times import GAP, LOCAL_TIMES
from fraud_app.etl.rule_base import Rule as Rule
from fraud_app.etl.rule_base import detail_of, marked, missing, parsed, quoted_value, unparsed
from fraud_app.etl.shared_columns import shared, shared_columns
from fraud_app.schema import (
    ALLOWED_CHANNELS,
    CODE_WIDTHS,
)

BROKEN = "__b_"
REASON, DETAIL = "reason", "reason_detail"
REPLACEMENT_CHAR = "\ufffd"  # what Spark's decoders put where bytes are not valid


def _missing_detail(name: str) -> Column:
    said = F.concat(F.lit(f"{name} ('"), _t(name), F.lit("' means no value)"))
    if name in ID_COLUMNS:
        listed = F.concat(F.lit(f"{name} ('"), _t(name),
                          F.lit("' means no value: etl.missing_ids)"))  # fmt: skip
        said = F.when(is_placeholder(name), listed).otherwise(said)
    return F.when(missing(name), F.when(marked(name), said).otherwise(F.lit(name)))


@shared
def _scientific(name: str) -> Column:
    return parsed(name).rlike(parsing.SCIENTIFIC)


@shared
def _fractional(name: str) -> Column:
    return parsed(name).rlike(parsing.FRACTIONAL)


@shared
def _float_integer(name: str) -> Column:
    """The parsed id kept its '.0': an integer a float wrote beyond 2^53 (parsing.id_text)."""
    return parsing.float_integer(parsed(name))


def _inexact_id_rule() -> Rule:
    """An id in scientific notation passed through a float (a spreadsheet shows 16-digit
    card numbers as 4.11111E+15; Spark writes a double id beyond 2^53 as 4.1E18): distinct
    ids may have become one, and as text they were kept and merged cards silently. An id
    with a fraction (a JSON number 12.5) is no id: 12 and 12.0 are id 12 (parsing.id_text),
    12.5 was published as a card of its own."""
    sci = " is a number in scientific notation"
    why = (": the id was stored as a float (a spreadsheet, a float column), which keeps "
           "about 15 digits, so distinct ids may have become one; deliver ids as text or "
           "integers")  # fmt: skip
    fraction = (" is a number with a fraction: an id is text or an integer (12 and 12.0 "
                "are id 12); deliver ids as text or integers")  # fmt: skip
    beyond = (" is an integer written as a float (its '.0') at or beyond 2^53 = "
              "9007199254740992, where a float no longer holds every integer (pandas writes "
              "an id column with a gap as float64): distinct ids may have become one; "
              "deliver ids as text or integers")  # fmt: skip

    def detail() -> Column:
        scientific = [F.when(_scientific(c), quoted_value(c)) for c in ID_COLUMNS]
        floats = [F.when(_float_integer(c), quoted_value(c)) for c in ID_COLUMNS]
        fractional = [F.when(_fractional(c), quoted_value(c)) for c in ID_COLUMNS]
        return F.coalesce(
            F.when(F.greatest(*[_scientific(c) for c in ID_COLUMNS]),
                   F.concat(F.concat_ws(", ", *scientific), F.lit(sci + why))),
            F.when(F.greatest(*[_float_integer(c) for c in ID_COLUMNS]),
                   F.concat(F.concat_ws(", ", *floats), F.lit(beyond))),
            F.concat(F.concat_ws(", ", *fractional), F.lit(fraction)),
        )  # fmt: skip

    return Rule(
        "inexact_id",
        "an id in scientific notation (it was a float, which keeps ~15 digits), an integer a "
        "float wrote beyond 2^53 ('9100000000000808.0') or with a fraction",
        lambda: F.greatest(
            *[_scientific(c) | _float_integer(c) | _fractional(c) for c in ID_COLUMNS]
        ),
        detail,
    )


def _inexact_code_rule() -> Rule:
    """A code (mcc, country, card_country) that is a number but no integer: 5812.5 or
    5.812E3. A code is read as an id is (5812, '5812.0', 5812.00 are MCC 5812,
    parsing.code_text), so such a value was a code of its own beside the integer's: its
    frequency and target encodings split one merchant category in two, without a word."""
    codes = tuple(CODE_WIDTHS)
    bad = {c: _scientific(c) | _float_integer(c) | _fractional(c) for c in codes}
    why = (" is a number that is no integer (a fraction, scientific notation, or a float "
           "beyond 2^53): a code is text or an integer (5812, 5812.0 and '5812' are one "
           "code); deliver codes as text or integers")  # fmt: skip
    return Rule(
        "inexact_code",
        "a code (mcc, country, card_country) written as a number that is no integer "
        "(5812.5, 5.812E3)",
        lambda: F.greatest(*bad.values()),
        lambda: F.concat(
            F.concat_ws(", ", *[F.when(b, quoted_value(c)) for c, b in bad.items()]),
            F.lit(why),
        ),
    )


def _ts_lit(value) -> Column:
    # a string parsed in the session time zone (UTC); a Python datetime literal would be
    # converted with the driver's local zone
    return F.to_timestamp(F.lit(value.strftime("%Y-%m-%d %H:%M:%S")))


def _outside(name: str, low: Column, high: Column) -> Column:
    return (parsed(name) < low) | (parsed(name) > high)


def _bound_rules(cfg: EtlSection) -> dict[str, Rule]:
    b = cfg.bounds

    def outside(name: str) -> Column:
        return _outside(name, _ts_lit(b.min_timestamp), _ts_lit(b.max_timestamp))

    span = (
        f"outside [{b.min_timestamp}, {b.max_timestamp}] (etl.bounds.min_timestamp / max_timestamp)"
    )
    hours = b.max_future_hours
    clock = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)  # once per run
    latest = clock + dt.timedelta(hours=hours or 0)
    future = (
        f"is after {latest} UTC: the ETL run's clock ({clock} UTC) + "
        f"{hours:g} h (etl.bounds.max_future_hours)"
    ) if hours is not None else ""  # fmt: skip
    return {
        "ts": Rule("timestamp_out_of_range", "timestamp outside the configured bounds",
                   lambda: outside("timestamp"), detail_of("timestamp", f"is {span}")),
        "fut": Rule("timestamp_in_future", "timestamp after the run's clock + max_future_hours",
                    lambda: F.lit(hours is not None) & (parsed("timestamp") > _ts_lit(latest)),
                    detail_of("timestamp", future)),
        "lt": Rule("label_time_out_of_range", "label_time outside the configured bounds",
                   lambda: outside("label_time"), detail_of("label_time", f"is {span}")),
        "lo": Rule("amount_below_minimum", "amount < etl.bounds.min_amount",
                   lambda: parsed("amount") < F.lit(b.min_amount),
                   amount_detail(cfg, f"is below {b.min_amount:g} (etl.bounds.min_amount)")),
        "hi": Rule("amount_above_maximum", "amount > etl.bounds.max_amount",
                   lambda: parsed("amount") > F.lit(b.max_amount),
                   amount_detail(cfg, f"is above {b.max_amount:g} (etl.bounds.max_amount)")),
    }  # fmt: skip


def encoding_rule(inputs: dict[str, str], cfg: EtlSection) -> Rule:
    """Any input value holding U+FFFD: bytes that were not valid in `etl.encoding`."""

    @cache
    def bad() -> dict[str, Column]:
        # built once for both the test and the detail (each Column costs JVM round trips)
        return {
            c: F.coalesce(F.col(c).cast("string").contains(REPLACEMENT_CHAR), F.lit(False))
            for c in inputs
        }

    return Rule(
        "invalid_encoding",
        "a value holds bytes that are not valid in etl.encoding",
        lambda: F.greatest(F.lit(False), *bad().values()),
        lambda: F.concat(
            F.lit(f"bytes that are not valid {cfg.encoding} (etl.encoding) in column(s): "),
            F.concat_ws(", ", *[F.when(bad()[c], F.lit(name)) for c, name in inputs.items()]),
        ),
    )


def missing_rule(required: tuple[str, ...]) -> Rule:
    """`missing_required_field`: one of the `required` columns is null, empty or a null marker."""
    return Rule(
        "missing_required_field",
        "a required column is null or empty",
        lambda: F.greatest(*[missing(c) for c in required]),
        lambda: F.concat(
            F.lit("missing required field(s): "),
            F.concat_ws(", ", *[_missing_detail(c) for c in required]),
        ),
    )


def build_rules(cfg: EtlSection) -> tuple[Rule, ...]:
    """The per-row rules in the order they are tried (the first broken one is the reason)."""
    bound = _bound_rules(cfg)
    return (
        missing_rule(required_fields(cfg)),
        _inexact_id_rule(),
        _inexact_code_rule(),
        _unparsed_rule("timestamp", cfg),
        _gap_rule(cfg),
        bound["ts"],
        bound["fut"],
        *currency_rules(cfg),
        *amount_rules(cfg),
        *minor_unit_rules(cfg),
        bound["lo"],
        bound["hi"],
        *_label_rules(),
        _channel_rule(),
        _unparsed_rule("label_time", cfg),
        bound["lt"],
        Rule("label_time_before_timestamp", "label known before the transaction happened",
             lambda: parsed("label_time") < parsed("timestamp"),
             lambda: F.concat(quoted_value("label_time"), F.lit(" is before "), quoted_value("timestamp"))),
    )  # fmt: skip


def _unparsed_rule(name: str, cfg: EtlSection) -> Rule:
    """`unparseable_<name>` for a time column; the detail names the setting, as a delivery
    in another format is the usual cause (parsing.timestamp_hint)."""
    return Rule(
        f"unparseable_{name}", f"{name} does not parse", lambda: unparsed(name),
        lambda: F.concat(
            quoted_value(name), F.lit(" "), parsing.timestamp_hint(_t(name), *cfg.time_format(name))
        ),
    )  # fmt: skip


def _label_rules() -> tuple[Rule, ...]:
    """`invalid_label`, `label_time_without_label` (its time's rules come after the channel's)."""
    return (
        Rule("invalid_label", "label is not 0/1", lambda: unparsed("label"),
             detail_of("label", "is not 0 or 1: expected 0/1 (or 0.0/1.0), true/false, t/f, "
                              "yes/no or y/n in any case; other spellings such as fraud / "
                              "legit: map them under etl.label_values (a text meaning not "
                              "known yet to null, e.g. pending: null)")),
        Rule("label_time_without_label", "label_time set while the label is empty",
             lambda: missing("label") & ~missing("label_time"),
             lambda: F.concat(quoted_value("label_time"), F.lit(
                 " is set but the label is empty: a label_time needs its label (a transaction "
                 "not labelled yet has both empty; etl.allow_unlabelled)"))),
    )  # fmt: skip


def _channel_rule() -> Rule:
    return Rule("unknown_channel", f"channel not in {ALLOWED_CHANNELS}",
                lambda: parsed("channel").isNotNull() & ~parsed("channel").isin(*ALLOWED_CHANNELS),
                detail_of("channel", f"is not one of {', '.join(ALLOWED_CHANNELS)}"))  # fmt: skip


def _gap_rule(cfg: EtlSection) -> Rule:
    """`nonexistent_local_time`: a wall clock in etl.time_zone's spring-forward gap
    (fraud_app.etl.local_times) names no instant; it was moved forward by the gap, onto
    the instant of a real later time and after rows the file wrote after it."""
    gap = {name: F.col(GAP + name) for name in LOCAL_TIMES}

    def said(name: str) -> Column:
        return F.concat(
            quoted_value(name),
            F.lit(
                f" does not exist in {cfg.time_zone} (etl.time_zone): its clocks skipped that "
                "time for daylight saving, so the time names no instant; expected a time the "
                "zone's clocks showed, or the time with its UTC offset (e.g. -05:00) or in UTC"
            ),
        )

    return Rule(
        "nonexistent_local_time", "a wall clock in the spring-forward gap of etl.time_zone",
        lambda: gap["timestamp"] | gap["label_time"],
        lambda: F.when(gap["timestamp"], said("timestamp")).otherwise(said("label_time")),
    )  # fmt: skip


# a malformed record is quoted to this many characters, and on to the end of a run of digits
# (spaces or dashes between them) that the cut splits: a card number cut there showed its
# first digits (14 of 16: the last is the Luhn check digit), which the masking outside the
# lake (fraud_app.card_masking) cannot tell from any other number
RECORD_SHOWN, RUN_AFTER_CUT = 200, 32


def _record_shown(record: Column) -> Column:
    head = F.substring(record, 1, RECORD_SHOWN)
    rest = F.substring(record, RECORD_SHOWN + 1, RUN_AFTER_CUT)
    run = F.when(head.rlike("[0-9][ -]?$"), F.regexp_extract(rest, "^(?:[ -]?[0-9])+", 0))
    return F.concat(head, F.coalesce(run, F.lit("")))


def malformed_rule(corrupt: str, fmt: str | None = None) -> Rule:
    """`fmt`: the input's format; a CSV record of several lines is said to be a quote left
    open (a JSON document read whole, cut or broken, spans its file's lines: no quote
    advice, no etl.csv_multiline, review51c)."""
    return Rule(
        "malformed_record",
        "the parser could not split the record into columns",
        lambda: F.col(corrupt).isNotNull(),
        lambda: F.concat(
            F.lit("malformed record"),
            _lines_spanned(F.col(corrupt), fmt == "csv"),
            F.lit(": "),
            _record_shown(F.col(corrupt)),
        ),
    )


def _lines_spanned(record: Column, csv: bool) -> Column:
    """How many lines a malformed record spans, said when more than one: a CSV quote left
    open (`"5.0,0`) read every line after it into this one record, up to the next quote
    (etl.csv_multiline), and the detail showed its first 200 characters only: the
    transactions on those lines were in no count and nothing said so (session 51,
    probe51c; they are in the quarantine row's raw values)."""
    breaks = F.length(record) - F.length(F.regexp_replace(record, "\n", ""))
    why = (
        " (a quote opened and not closed reads the lines after it into one record, up to the "
        "next quote: they are not counted as records of their own; close the quote, or set "
        "etl.csv_multiline: false if the export writes no line break inside a field)"
    )
    said = F.concat(F.lit(" spanning "), (breaks + 1).cast("string"), F.lit(" lines"),
                    F.lit(why if csv else ""))  # fmt: skip
    return F.when(breaks > 0, said).otherwise(F.lit(""))


# set by the pipeline after the per-row rules (several versions of one transaction_id)
CONFLICTING_DUPLICATE = "conflicting_duplicate"
REASON_CODES: tuple[str, ...] = (  # in the order they are tried
    "invalid_encoding",
    "malformed_record",
    "missing_required_field",
    "inexact_id",
    "inexact_code",
    "unparseable_timestamp",
    "nonexistent_local_time",
    "timestamp_out_of_range",
    "timestamp_in_future",
    "unknown_currency",
    "non_numeric_amount",
    "non_finite_amount",
    "amount_not_minor_units",
    "amount_below_minimum",
    "amount_above_maximum",
    "invalid_label",
    "label_time_without_label",
    "unknown_channel",
    "unparseable_label_time",
    "label_time_out_of_range",
    "label_time_before_timestamp",
    CONFLICTING_DUPLICATE,
    # the label feed only (fraud_app.etl.labels: a label checked against the published row)
    "unknown_transaction",
    "conflicting_label",
    "correction_not_after_published_label",
    "label_reversal_not_supported",
)


def annotate(
    df: DataFrame, cfg: EtlSection, inputs: dict[str, str], corrupt: str | None,
    row_rules: tuple[Rule, ...] | None = None, fmt: str | None = None,
) -> DataFrame:  # fmt: skip
    """Add `reason` / `reason_detail`: the first broken rule, null for a clean row.
    `inputs`: {renamed input column: its name in the file}, all checked for undecodable
    bytes; `corrupt`: the parser's corrupt-record column (renamed), if any; `row_rules`:
    the rules after those two (default build_rules(cfg); the label feed passes a subset)."""
    with shared_columns():  # the details quote a value many times: each Column built once
        first = [encoding_rule(inputs, cfg)]
        after = build_rules(cfg) if row_rules is None else row_rules
        rules = (*first, *([malformed_rule(corrupt, fmt)] if corrupt else []), *after)
        # each test is a column of its own (evaluated once per row, read by both columns); a
        # null test result (e.g. comparing with a null) counts as "not broken"
        flags = {f"{BROKEN}{i}": r.broken() for i, r in enumerate(rules)}
        tested = df.withColumns(flags)
        broken = [F.col(f) for f in flags]
        pairs = list(zip(rules, broken, strict=True))
        reason = F.coalesce(*[F.when(b, F.lit(r.code)) for r, b in pairs])
        detail = F.coalesce(*[F.when(b, r.detail()) for r, b in pairs])
        return tested.withColumns({REASON: reason, DETAIL: detail}).drop(*flags)
