"""`etl` config section: where raw data is, how its columns map to the canonical schema.

Its sub-sections are their own modules: `etl.bounds` fraud_app.etl.bounds_config (EtlBounds,
re-exported here), `etl.currency` fraud_app.etl.amount_config.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from fraud_app.config_base import Section, name_unknown
from fraud_app.etl.amount_config import EtlCurrency, check_amount_settings, minor_units_setting
from fraud_app.etl.bounds_config import EtlBounds as EtlBounds
from fraud_app.schema import CANONICAL_COLUMNS

_CANONICAL = tuple(c.name for c in CANONICAL_COLUMNS)
_OPTIONAL = frozenset(c.name for c in CANONICAL_COLUMNS if not c.required)
# etl.columns may also map the currency column: read and checked (etl.currency), not published
CURRENCY = "currency"
_MAPPABLE = (*_CANONICAL, CURRENCY)
EPOCH_FORMATS = ("epoch_seconds", "epoch_millis")
# a number of seconds or hours after etl.timestamp_origin (PaySim's hour `step`,
# IEEE-CIS's `TransactionDT`, ULB's `Time`): the seconds one unit is worth
OFFSET_FORMATS = {"offset_seconds": 1, "offset_hours": 3600}


class OffsetFormat(str):
    """A time format that counts from an origin: the format's name (compared and printed
    as the text the config holds) with its origin (naive, UTC), the seconds of a unit and
    the decimal separator its numbers are written with (etl.decimal_separator, as the
    amounts': under ',' a text offset '86.400' was read as 86.4, not 86400, and '1,5'
    was refused; review52a)."""

    origin: dt.datetime
    unit_seconds: int
    decimal_separator: str

    def __new__(cls, name: str, origin: dt.datetime, decimal_separator: str = ".") -> OffsetFormat:
        made = super().__new__(cls, name)
        made.origin, made.unit_seconds = origin, OFFSET_FORMATS[name]
        made.decimal_separator = decimal_separator
        return made

    @property
    def unit(self) -> str:
        return self.removeprefix("offset_")


BUILTIN_LABELS = {"1": 1, "0": 0, "true": 1, "t": 1, "yes": 1, "y": 1,
                  "false": 0, "f": 0, "no": 0, "n": 0}  # fmt: skip
# one-letter words whose meaning is the export's (F: false or fraud; N: no or normal):
# etl.label_values may give them either label, unlike the words and 0 / 1
LETTER_LABELS = ("t", "f", "y", "n")
# what exports write for a missing value (fraud_app.etl.id_marks): in the label, no label
# whatever etl.label_values says, so the config refuses giving one 0 or 1
NULL_MARKERS = ("null", "none", "nan", "na", "n/a", "#n/a", "nil")
# ids that exports write for "unknown" (etl.missing_ids): words no card or merchant is
# named; numbers such as 0 or -1 are real ids in some exports, so the user lists them
DEFAULT_MISSING_IDS = ("unknown", "undefined", "?", "-")
ISO_FORMAT = "iso8601"  # ISO-8601 text, named (the default of timestamp_format, None)
ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")
_ZONE_EXPECTED = (
    "expected an IANA zone name such as 'America/New_York', 'Europe/Berlin' or 'UTC' (the zone "
    "of wall-clock times written without an offset)"
)


def fold_label(text: str) -> str:
    """A label text as the ETL compares it: without surrounding blanks and lowered as
    Spark's `lower` lowers the column (str.casefold made 'Straße' 'strasse', which the
    column's 'straße' never matched: every such row quarantined, review40b)."""
    return text.strip().lower()


def _said(label: int | None) -> str:
    return "null" if label is None else str(label)


def known_zone(value: str, expected: str = _ZONE_EXPECTED) -> str:
    """`value` if it is an IANA zone name this Python knows (Spark reads the same tz
    database names), else ValueError quoting it and `expected`: a typo would fail every
    row's conversion inside Spark."""
    if not isinstance(value, str) or not ZONE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a zone name; {expected}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known time zone; {expected}") from None
    return value


class EtlSection(Section):
    """Raw files -> typed, deduplicated, date-partitioned canonical Parquet + quarantine.

    columns: {canonical_name: source_column}. A canonical column not listed is looked
      for under its own name; optional ones that are absent become nulls. Each source
      column feeds one canonical column: mapping one to another canonical column's own
      name (mcc: merchant_id) needs that column mapped too (merchant_id: merchant).
    timestamp_format: a Spark datetime pattern such as 'yyyy-MM-dd HH:mm:ss', or
      'epoch_seconds' (from 1e8, 1973-03-03, to 1e11: a small number such as PaySim's hour
      `step` is an offset, refused, not read as seconds of 1970-01-01) / 'epoch_millis'
      (from 1e11 to 1e14: a 10-digit seconds value is refused, not read as a day of 1970);
      'offset_seconds' / 'offset_hours': a number of seconds or hours (a fraction allowed,
      negative too; text written as `decimal_separator` says, as the amounts; rounded to
      the microsecond) after `timestamp_origin`, for exports that count time from the start
      of their data (PaySim's hour `step`, IEEE-CIS's `TransactionDT` seconds, ULB's `Time`);
      None (or 'iso8601') accepts ISO-8601 strings (offsets such as +02:00 converted to UTC). Applies to `timestamp` and `label_time` strings, in the session time zone (UTC).
    timestamp_origin: the instant (UTC, e.g. 2017-12-01T00:00:00; one written with its
      offset, 2017-12-01T00:00:00Z or ...+02:00, is that instant) that offset_seconds /
      offset_hours count from, for `timestamp` and for `label_time` when its format is one;
      required by those formats and refused without one (it would have no effect). Such
      times are instants: time_zone does not move them. The data sets' origins are not
      published (IEEE-CIS's is commonly taken as 2017-11-30 or 2017-12-01): the calendar
      features (hour, weekday) and event_date are only as true as the origin. The ETL
      report's `time_reading` records it with the formats; an append (or a labels feed)
      reading offsets after another origin or unit than the table's last run is named in
      a WARNING (the same offset is then another instant).
    time_zone: the zone of wall-clock times written without an offset or zone, e.g.
      'America/New_York' for an export of local times '2025-03-01 09:30:00': each is read
      as that zone's local time and converted to UTC (daylight saving included; a time in
      a spring-forward gap names no instant and is quarantined as nonexistent_local_time,
      one in a fall-back overlap takes the earlier offset, e.g. 01:30 on New York's
      fall-back day is 05:30 UTC: counted as ambiguous_local_times, with a WARNING).
      None (default) = UTC: such a time is read as UTC. Only the reading changes:
      event_date, calendar features (but those whose spec names a time_zone), daily
      budgets, per-day metrics, folds and score dates stay UTC days. Times that carry
      an offset or zone (ISO '+02:00' / 'Z', a pattern with a zone field), epoch numbers
      and zone-aware Parquet timestamps are instants already and are never converted;
      naive Parquet timestamps (pandas' datetime64 without tz) are wall clocks and are.
      Applies to `timestamp` and `label_time`. The ETL report's `time_reading` records
      it; an append (or a labels feed) reading wall-clock times in another zone than the
      table's last run is named in a WARNING (the same local time is then another
      instant).
    label_time_format: the same choices, for `label_time` alone, when an export writes it
      differently from `timestamp` (a chargeback date '2025-02-20', 'iso8601', beside
      epoch seconds); None = timestamp_format. A label_time of a date alone is read as
      the end of that day (the label was known at some time that day, never before).
    format: csv, parquet or json; None = from the file extension(s) under `input`.
    input/output/quarantine: None = paths.raw / paths.canonical / paths.quarantine.
    encoding: the files' character encoding (CSV, JSON), e.g. UTF-8, ISO-8859-1,
      windows-1252. A row holding bytes that are not valid in it is quarantined as
      `invalid_encoding`; values are never altered.
    csv_multiline: RFC 4180 quoted fields may hold line breaks (a record is counted once).
      Costs parallelism (Spark reads each such file in one task); false splits big files
      but quarantines records with embedded newlines as `malformed_record`.
    bounds: plausibility bounds (EtlBounds).
    label_values: more spellings of the label, {text: 0 or 1}, e.g. {fraud: 1, legit: 0}
      or {chargeback: 1, genuine: 0}; compared without case and surrounding blanks, beside
      the built-in 0/1, 0.0/1.0, true/false, t/f, yes/no, y/n. The words and numbers keep
      their meaning; the letters t, f, y, n may be given another: {F: 1, N: 0} reads an
      export writing F for fraud and N for normal (read as false and no without it: an
      input mixing the two kinds of words is named in a WARNING, `mixed_label_words`).
      null marks a text meaning "not known yet", e.g. {pending: null}: such rows are
      published unlabelled (allow_unlabelled), as an empty label is (it was quarantined as
      `invalid_label`, the newest days' rows with it: the ones to score). The null markers
      (NULL, None, NaN, NA, N/A, #N/A, nil) always mean no label: giving one 0 or 1 is
      refused (it had no effect).
    missing_ids: id values that mean "no id" in transaction_id, card_id, merchant_id and
      device_id, compared without case or surrounding blanks and as ids ('0.0' is '0'),
      beside the built-in null markers (NULL, None, NaN, NA, N/A, #N/A, nil) and empty
      values. Default: unknown, undefined, ?, -. A row whose transaction_id or card_id is one
      is quarantined (`missing_required_field`, its detail naming this setting); a
      merchant_id or device_id that is one is published null (its entity's features are
      undefined, filled as for any row without one), counted per value in the report's
      `placeholder_ids`, with one WARNING. Before, such a value was published as a real id:
      every unknown merchant of an export became ONE merchant, whose counts and fraud
      rates mixed unrelated transactions. Add your export's own placeholders, e.g.
      ['0', '-1', 'UNKNOWN'] (numbers are read as their text: 0 is '0'); [] treats
      every such value as a real id. The features step names an id that holds a large
      share of the rows (a placeholder not listed here, or a test card).
    decimal_separator: '.' (default: plain numbers such as 1234.56) or ',' (1234,56,
      also with '.', space or apostrophe grouping thousands: 1.234,56). An amount with a
      currency sign or code is quarantined either way.
    amount_minor_units: the amounts are whole numbers of the currency's minor unit with
      this many decimals, e.g. 2 for cents: 1050 is published as 10.50 (the canonical
      table holds major units, as the features' sums, means and ratios expect). An amount
      with a fraction is then quarantined as `amount_not_minor_units` (an export in major
      units read with this setting). 0: the amounts are major units, as written (says so,
      which silences the ETL's WARNING that a first load's amounts look like minor units);
      null (default): as written. iso4217: each row's currency's own decimals (a
      multi-currency export in minor units: JPY 1000 is 1000 yen, USD 1000 is 10.00, KWD
      1000 is 1.000; fraud_app.etl.iso4217, overrides in etl.currency.minor_units), which
      needs etl.currency. A number applies to every row whatever its currency: with
      etl.currency accepting a currency of other decimals (JPY with 2), a WARNING names it.
    currency: the currency of the canonical amounts and fixed rates that convert others to
      it, for an export with a currency column (EtlCurrency; etl.columns.currency maps
      that column, looked for as `currency` otherwise; it is read and checked, not
      published). null: no currency is read; an unmapped column named currency, ccy,
      cur or currency_code holding several values is named in a WARNING and the ETL
      report's `currencies`.
    conflicting_duplicates: what to do with copies of one transaction_id whose content
      differs: keep_earliest (the copy with the earliest timestamp, ties broken by the
      other canonical columns in order, smallest first, goes to the canonical table; the
      other versions go to the quarantine as `conflicting_duplicate`) or quarantine_all
      (every version is quarantined, none is kept). Identical copies are dropped and
      counted as duplicates either way.
    allow_unlabelled: true (default): a transaction whose label is not known yet (label
      empty or null, or a null marker such as NULL / NaN; label_time empty too) is published
      with label and label_time null ("unlabelled", counted as `unlabelled_rows`), and a
      delivery without the label column publishes every row unlabelled (a WARNING names the
      column looked for): new transactions are scored before their fraud is confirmed. A
      label_time without a label is quarantined as `label_time_without_label`; a label that
      is present but not 0/1 stays `invalid_label`. Every later step reads a null label as
      unknown, never as 0 (train, tune, backtest and evaluate leave such rows out). A later
      delivery of the same transaction with its label fills it in (etl.mode: append; see
      fraud_app.etl.dedup). false: the label is required, as every other required column
      (`missing_required_field`; a delivery without it is a SchemaError).
    label_corrections: what `fraud-app labels` does with a feed label other than the
      published one (fraud_app.etl.labels_classify). apply (default): a 0 -> 1 (a
      chargeback for a row exported as "no dispute yet") is applied when it is known after
      the published label (its label_time, or, for a feed row without one, the labels
      run's time; the published one's label_time, else timestamp +
      features.label_delay_days), else quarantined as
      `correction_not_after_published_label`; the row takes label 1 with that known time
      as label_time, so the features count the fraud from then on only. A 1 -> 0 (a
      withdrawn chargeback) is quarantined as `label_reversal_not_supported` (the features
      have no retraction event: applying it would rewrite past features). quarantine:
      every other label is quarantined as `conflicting_label` (the behaviour before
      corrections).
    mode: replace (default): each run publishes exactly what `input` holds; the canonical
      table and the quarantine are replaced (dates the previous table held and this input
      does not are named in a WARNING and the report's `dropped_dates`). append: this
      input's records are added to the published table (a delivery of new days, or late
      records of old ones): a record identical to a published row is dropped and counted
      as a duplicate, one that differs from it is quarantined as `conflicting_duplicate`
      (a published row is never replaced, except that a published unlabelled row takes the
      label of a copy that differs from it only by having one: `labels_filled`); the
      quarantine keeps earlier runs' rows. Only
      the event_date partitions that receive new rows are rewritten (staged, swapped in
      date by date); the others are read only for their transaction_id column and keep
      their files; this run's quarantine rows are added as one new file
      (fraud_app.etl.publish).
    compact_files: how many data files the quarantine and the label ledger
      (`<canonical>/_labels_ledger/`) may hold before an `etl.mode: append` or
      `fraud-app labels` run rewrites them as one file each (the quarantine: its
      `labels-` files, which a replace rebuild carries over, and the others apart),
      inside the run's commit: each such run adds one small file, so a daily schedule
      left 365 files a year in each, every one read by each later run (the ledger by
      `labels`, the quarantine by `labels` and every append). Default 32; null never
      rewrites them. The canonical table's date partitions need none: a run rewrites each
      date it touches as one file.
    """

    input: str | None = None
    format: Literal["csv", "parquet", "json"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    timestamp_format: str | None = None
    label_time_format: str | None = None
    timestamp_origin: dt.datetime | None = None
    time_zone: str | None = None
    csv_delimiter: str = Field(",", min_length=1, max_length=1)
    output: str | None = None
    quarantine: str | None = None
    duplicate_examples: int = Field(5, ge=0, le=100)
    encoding: str = "UTF-8"
    csv_multiline: bool = True
    bounds: EtlBounds = Field(default_factory=EtlBounds)
    conflicting_duplicates: Literal["keep_earliest", "quarantine_all"] = "keep_earliest"
    decimal_separator: Literal[".", ","] = "."
    amount_minor_units: Annotated[int, Field(ge=0, le=4)] | Literal["iso4217"] | None = None
    currency: EtlCurrency | None = None
    label_values: dict[str, Literal[0, 1] | None] = Field(default_factory=dict)
    missing_ids: tuple[str, ...] = DEFAULT_MISSING_IDS
    mode: Literal["replace", "append"] = "replace"
    compact_files: int | None = Field(32, ge=2)
    allow_unlabelled: bool = True
    label_corrections: Literal["apply", "quarantine"] = "apply"

    @field_validator("timestamp_format", "label_time_format")
    @classmethod
    def _pattern_has_a_date(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A pattern without year and day ('HH:mm:ss') put every row on 1970-01-01,
        inside the default bounds: refused here, before any row is read."""
        if value is None or value in (*EPOCH_FORMATS, *OFFSET_FORMATS, ISO_FORMAT):
            return value
        fields = re.sub(r"'[^']*'", "", value)  # quoted text such as 'T' is not a field
        if not re.search(r"[yu]", fields) or not re.search(r"[dD]", fields):
            raise ValueError(
                f"etl.{info.field_name} {value!r} lacks a year (y) or a day (d) field: its "
                "timestamps would fall on a day of 1970. Expected a pattern with the date, e.g. "
                "'yyyy-MM-dd HH:mm:ss', or 'epoch_seconds' / 'epoch_millis', or "
                "'offset_seconds' / 'offset_hours' with etl.timestamp_origin"
            )
        return value

    @model_validator(mode="after")
    def _offset_origin(self) -> EtlSection:
        """offset_seconds / offset_hours count from timestamp_origin: one without the
        other is refused (an origin no format reads would have no effect)."""
        offsets = [(key, fmt) for key, fmt in (("timestamp_format", self.timestamp_format),
                   ("label_time_format", self.label_time_format)) if fmt in OFFSET_FORMATS]  # fmt: skip
        origin = self.timestamp_origin
        if offsets and origin is None:
            key, fmt = offsets[0]
            raise ValueError(
                f"etl.{key} {fmt!r} counts from etl.timestamp_origin, which is not set. "
                "Expected the instant the offsets count from, in UTC, e.g. timestamp_origin: "
                "2017-12-01T00:00:00 (the first hour of a PaySim `step` 1 is origin + 1 h)"
            )
        if origin is not None and not offsets:
            raise ValueError(
                f"etl.timestamp_origin is set ({origin.isoformat()}) but neither "
                "etl.timestamp_format nor etl.label_time_format is 'offset_seconds' or "
                "'offset_hours', the formats that count from it: it would have no effect. "
                "Set the format of the offset column, or remove timestamp_origin"
            )
        return self

    @field_validator("timestamp_origin")
    @classmethod
    def _origin_in_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        """An origin written with its offset (`1970-01-01T00:00:00Z`, `...+02:00`) names
        one instant: it is that instant in UTC, as a time without one is read (session 53:
        it was refused, `Z` included, as "carries an offset")."""
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        """An IANA zone name (`known_zone`)."""
        return None if value is None else known_zone(value)

    @field_validator("amount_minor_units", mode="before")
    @classmethod
    def _minor_units(cls, value: object) -> object:
        return minor_units_setting(value)

    @field_validator("label_values", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        """YAML reads an unquoted yes / no / on / off / true / false key as a boolean."""
        if isinstance(value, dict) and any(isinstance(k, bool) for k in value):
            said = [k for k in value if isinstance(k, bool)]
            raise ValueError(
                f"keys {said} are YAML booleans: an unquoted yes, no, on, off, true or false; "
                "quote the label text, e.g. 'on': 1 (yes/no/true/false are read without it)"
            )
        return value

    @field_validator("label_values")
    @classmethod
    def _label_spellings(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        folded: dict[str, int | None] = {}
        for text, label in value.items():
            key = fold_label(text)
            if not key:
                raise ValueError("etl.label_values: a label text must not be empty")
            if key in NULL_MARKERS and label is not None:
                raise ValueError(
                    f"etl.label_values: {text!r}: {label} cannot apply: {text!r} is a null "
                    f"marker ({', '.join(NULL_MARKERS)}, in any case), read as no label "
                    "before etl.label_values is looked at; expected another text, or null"
                )
            if key in BUILTIN_LABELS and key not in LETTER_LABELS and BUILTIN_LABELS[key] != label:
                raise ValueError(
                    f"etl.label_values: {text!r}: {_said(label)} contradicts its built-in meaning "
                    f"{BUILTIN_LABELS[key]}; expected new spellings such as fraud: 1, legit: 0 "
                    "(the letters t, f, y, n may be given either label, e.g. F: 1 for fraud)"
                )
            if key in folded and folded[key] != label:
                first, second = sorted((_said(folded[key]), _said(label)))
                raise ValueError(
                    f"etl.label_values: {text!r} is given both as {first} and as {second}"
                )
            folded[key] = label
        return value

    def unknown_labels(self) -> tuple[str, ...]:
        """The label texts (folded) etl.label_values maps to null: not known yet."""
        return tuple(sorted(fold_label(k) for k, v in self.label_values.items() if v is None))

    @field_validator("missing_ids", mode="before")
    @classmethod
    def _id_texts(cls, value: object) -> object:
        """Numbers as their id text (YAML reads an unquoted 0 as an integer); no booleans,
        no empty or fractional values (an empty id is missing already)."""
        if not isinstance(value, list | tuple):
            return value
        texts = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ValueError(
                    f"etl.missing_ids: {item!r} is not an id; expected text or integers, "
                    "e.g. ['0', '-1', 'UNKNOWN'] (YAML reads an unquoted yes/no/true as a "
                    "boolean: quote it)"
                )
            if isinstance(item, float) and not item.is_integer():
                raise ValueError(f"etl.missing_ids: {item!r} has a fraction; an id is text or "
                                 "an integer")  # fmt: skip
            text = str(int(item)) if isinstance(item, int | float) else item.strip()
            text = re.sub(r"^([+-]?\d+)\.0+$", r"\1", text)  # as the ETL reads an id: 0.0 is 0
            if not text:
                raise ValueError("etl.missing_ids: an empty value is missing already; list "
                                 "the text your export writes for an unknown id")  # fmt: skip
            texts.append(text)
        return tuple(texts)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(
                f"etl.encoding {value!r} is not a known character encoding; use e.g. "
                "UTF-8, ISO-8859-1 or windows-1252"
            ) from exc
        return value

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(_MAPPABLE))
        if unknown:
            raise ValueError(
                "etl.columns keys must be canonical column names; unknown: "
                f"{name_unknown(unknown, _MAPPABLE)}. "
                f"Valid: {list(_MAPPABLE)}"
            )
        empty = sorted(k for k, v in value.items() if not str(v).strip())
        if empty:
            raise ValueError(f"etl.columns maps {empty} to an empty source column name")
        sources = list(value.values())
        clash = sorted({s for s in sources if sources.count(s) > 1})
        if clash:
            raise ValueError(
                f"etl.columns maps several canonical columns to the same source {clash}"
            )
        return value

    @model_validator(mode="after")
    def _one_column_each(self) -> EtlSection:
        """A column mapped under another canonical name's own name while that canonical
        column is not mapped (`mcc: merchant_id` alone) is read by both: the canonical
        column not listed is looked for under its own name. merchant_id and mcc then held
        the same values, without a word (the explicit clash is refused above)."""
        implicit = [*_CANONICAL, *([CURRENCY] if self.currency is not None else [])]
        clash = sorted(
            (key, source)
            for key, source in self.columns.items()
            if source != key and source in implicit and source not in self.columns
        )
        if clash:
            said = "; ".join(f"{k} -> {s!r} (also read as {s}, which is not mapped)"
                             for k, s in clash)  # fmt: skip
            key, source = clash[0]
            raise ValueError(
                f"etl.columns maps a column that another canonical column reads by its own "
                f"name: {said}. A canonical column not listed under etl.columns is read from "
                f"the column of its own name, so both would hold the same values. Expected "
                f"each source column once: map {source} to its own column too (e.g. "
                f"etl.columns.{source}: <the export's {source} column>), or map {key} to "
                "another column"
                + (
                    f". If the export has no {source} of its own (its {source!r} column holds "
                    f"{key}), map {source} to a column name the export does not have: an "
                    f"absent optional column is read as null, with a WARNING"
                    if source in _OPTIONAL
                    else ""
                )
            )
        return self

    @model_validator(mode="after")
    def _amount_settings(self) -> EtlSection:
        check_amount_settings(self.columns.get(CURRENCY), self.amount_minor_units, self.currency)
        return self

    def source_for(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)

    def time_format(self, canonical: str) -> tuple[str | None, str]:
        """(format, the setting it comes from) of the time column `canonical`; None: ISO-8601."""
        fmt, setting = self.timestamp_format, "etl.timestamp_format"
        if canonical == "label_time" and self.label_time_format is not None:
            fmt, setting = self.label_time_format, "etl.label_time_format"
        if fmt in OFFSET_FORMATS and self.timestamp_origin is not None:
            return OffsetFormat(fmt, self.timestamp_origin, self.decimal_separator), setting
        return (None if fmt == ISO_FORMAT else fmt), setting

    def time_reading(self) -> dict[str, str | None]:
        """How `timestamp` and `label_time` were read, as the ETL report's `time_reading`
        records it: each column's format, etl.timestamp_origin and etl.time_zone (an append
        whose offsets count from another origin, or whose wall-clock times are read in
        another zone, is named: fraud_app.etl.report_readings.check_time_reading)."""
        origin = self.timestamp_origin
        return {
            "timestamp": self.timestamp_format,
            "label_time": self.label_time_format or self.timestamp_format,
            "timestamp_origin": origin.isoformat() if origin is not None else None,
            "time_zone": self.time_zone,
        }
