"""Map the input's columns to the canonical ones and parse them: `resolve_sources`
(SchemaError for missing or unusable columns, with hints: a header read as one column, a
name differing in case or spaces, a label a delivery may leave out) and `parse_columns`
(typed parsing that never throws: try_cast / try_to_timestamp, fraud_app.etl.parsing).

Working columns it adds (fraud_app.etl.rules, whose rules read them, says more):
`__t_<canonical>` (the raw value as text without blanks at its ends), `__r_<canonical>`
(the raw value as a string), `__p_<canonical>` (the parsed, typed value) and `__k_<country
column>` (a country code as read before its alpha-2 reading, fraud_app.etl.country_codes,
which counts the codes converted from it). Does not own
the rules, reading or writing.
"""

from __future__ import annotations

import json

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.errors import SchemaError
from fraud_app.etl import amounts, country_codes, local_times, parsing
from fraud_app.etl.config import BUILTIN_LABELS, EtlSection, fold_label
from fraud_app.etl.id_marks import ID_COLUMNS, MARK, MARKED_COLUMNS, TEXT, marks
from fraud_app.etl.local_times import LOCAL_TIMES
from fraud_app.etl.reader import CORRUPT_COLUMN, quoted
from fraud_app.schema import CANONICAL_COLUMNS, CODE_WIDTHS, NOT_NULL_COLUMNS, REQUIRED_COLUMNS

RAW, PARSED = "__r_", "__p_"
_TYPES = {c.name: c.spark_type for c in CANONICAL_COLUMNS}
_SCALAR_TYPES = (T.StringType, T.NumericType, T.BooleanType, *parsing.TIME_TYPES)


def required_fields(cfg: EtlSection) -> tuple[str, ...]:
    """The columns a row must hold a value in: the label only with etl.allow_unlabelled off."""
    return NOT_NULL_COLUMNS if cfg.allow_unlabelled else REQUIRED_COLUMNS


def resolve_sources(df: DataFrame, cfg: EtlSection, where: str) -> dict[str, str | None]:
    """canonical name -> source column (None: optional and absent). SchemaError otherwise."""
    present = {c for c in df.columns if c != CORRUPT_COLUMN}
    missing = [c for c in required_fields(cfg) if cfg.source_for(c) not in present]
    if missing:
        wanted = ", ".join(f"{c} (looked for {cfg.source_for(c)!r})" for c in missing)
        raise SchemaError(
            f"ETL input {where} lacks required column(s): {wanted}. Columns present: "
            f"{sorted(present)}. Map them in the config under etl.columns, e.g. "
            f"`etl.columns.{missing[0]}: <your column name>`.{_delimiter_hint(present, cfg)}"
            f"{_label_hint(missing)}"
            f"{_near_names(missing, present, cfg)}"
            f"{_id_hint(missing, present, cfg)}"
        )
    sources = {c.name: (cfg.source_for(c.name) if cfg.source_for(c.name) in present else None)
               for c in CANONICAL_COLUMNS}  # fmt: skip
    dtypes = dict(df.dtypes)
    fields = {f.name: f.dataType for f in df.schema.fields}
    bad = [
        f"{c} <- {s!r} has type {dtypes[s]}"
        for c, s in sources.items()
        if s is not None and not isinstance(fields[s], _SCALAR_TYPES)
    ]
    if bad:
        raise SchemaError(
            f"ETL input {where}: column(s) of a type that cannot hold the value: {'; '.join(bad)}. "
            "Expected strings, numbers, booleans or timestamps."
        )
    return sources


def _folded(name: str) -> str:
    """A column name compared loosely: no case, spaces, '_' or '-' (`Merchant ID`, `MCC`)."""
    return "".join(ch for ch in name.casefold() if ch not in " _-\t")


def unread_columns(
    columns: list[str],
    sources: dict[str, str | None],
    currency: str | None,
    mapped: frozenset[str] = frozenset(),
) -> tuple[list[str], dict[str, str]]:
    """(the input columns no canonical column reads, in input order; {unmapped optional
    canonical column read as null: the unread column spelled like it but for case, spaces,
    '_' or '-'}). A canonical column not under etl.columns is looked for under its exact
    name, so an export's `MCC` or `Merchant_ID` was not read and mcc / merchant_id were
    published null on every row, named only by the features' skip as `all null`.
    `mapped`: the canonical columns under etl.columns (one mapped to a name the input
    lacks is named by the pipeline's mapped-absent WARNING, not as unmapped)."""
    read = {s for s in sources.values() if s is not None} | {currency, CORRUPT_COLUMN}
    unread = [c for c in columns if c not in read]
    near = {}
    for name, source in sources.items():
        if source is not None or name in REQUIRED_COLUMNS or name in mapped:
            continue
        like = [c for c in unread if _folded(c) == _folded(name)]
        if like:
            near[name] = like[0]
    return unread, near


UNREAD_SHOWN = 50  # names one log line shows (IEEE-CIS has 434 columns, wide exports more)


def shown_names(names: list[str], limit: int = UNREAD_SHOWN) -> str:
    """`names` for a log line: the first `limit` and how many more (review52a: the INFO
    line of unread columns held every name, thousands of them for a wide export)."""
    if len(names) <= limit:
        return repr(names)
    return f"{names[:limit]!r} and {len(names) - limit} more (every one in the ETL report)"


def _id_hint(missing: list[str], present: set[str], cfg: EtlSection) -> str:
    """An export without any transaction id (PaySim's) cannot map one: say what to add
    (not to an export holding one under a near name, `Transaction ID`: review52a)."""
    if "transaction_id" not in missing or "transaction_id" in cfg.columns:
        return ""
    if any(_folded(p) == _folded("transaction_id") for p in present):
        return ""
    return (
        " An export without a transaction id (PaySim has none) needs one added before the "
        "ETL: a column naming each transaction once, the same in every delivery of it (it "
        "finds duplicates and re-delivered rows; a row number is that only within one "
        "unchanging file), then map it as etl.columns.transaction_id."
    )


def _label_hint(missing: list[str]) -> str:
    if "label" not in missing:
        return ""
    return (
        " A delivery whose labels are not known yet may leave the label out: set "
        "etl.allow_unlabelled: true (the default) to publish its rows unlabelled."
    )


def _near_names(missing: list[str], present: set[str], cfg: EtlSection) -> str:
    """Columns present under the wanted name, or under the canonical name when etl.columns
    maps it to another (`fraud-app init`'s example `amount: amt` left in place over an
    export's `Amount`: walk55), but for case, spaces, '_' or '-' (a `Card ID` or `CardID`
    for card_id was not named, review52a; the optional columns' WARNING, `unread_columns`,
    compares names so)."""
    free = present - set(cfg.columns.values())  # not one another mapping reads
    near = {c: p for c in missing if (p := near_column(c, cfg.source_for(c), free))}
    if not near:
        return ""
    found = ", ".join(f"{p!r} for {_wanted(c, cfg)}" for c, p in near.items())
    return (
        f" Found {found}: names are matched exactly (case, spaces, '_' and '-' count); map "
        "them under etl.columns, or fix the header."
    )


def near_column(canonical: str, source: str, present: set[str] | list[str]) -> str | None:
    """The first present column (by name) spelled as `source`, else as `canonical`, but
    for case, spaces, '_' or '-'; None when none is."""
    for wanted in (source, canonical):
        like = [p for p in sorted(present) if _folded(p) == _folded(wanted)]
        if like:
            return like[0]
    return None


def _wanted(canonical: str, cfg: EtlSection) -> str:
    source = cfg.source_for(canonical)
    if source == canonical:
        return repr(source)
    return f"{canonical} (etl.columns maps it to {source!r})"


def _delimiter_hint(present: set[str], cfg: EtlSection) -> str:
    """When the header was not split (one column holding ';', tabs or '|'), say so."""
    if len(present) != 1:
        return ""
    (only,) = present
    found = [d for d in (";", "\t", "|", ",") if d != cfg.csv_delimiter and d in only]
    if not found:
        return ""
    return (
        f" The header was read as ONE column: the file looks {found[0]!r}-separated; "
        f"set etl.csv_delimiter: {json.dumps(found[0])} (now {json.dumps(cfg.csv_delimiter)})."
    )


def parse_columns(
    df: DataFrame, sources: dict[str, str | None], cfg: EtlSection, currency: str | None = None
) -> DataFrame:
    """Add `__t_<c>` (trimmed text), `__r_<c>` (raw as string) and `__p_<c>` (typed) for
    every canonical column; the text is computed once and read by the parser and the rules.
    `currency`: the input column of the row's currency (amounts.currency_source), read as
    `amounts.CURRENCY`; the amount is converted to etl.currency.base's major units."""
    fields = {f.name: f.dataType for f in df.schema.fields}
    texts: dict[str, Column] = {
        amounts.CURRENCY: amounts.currency_column(F.col(quoted(currency)) if currency else None)
    }
    for name, source in sources.items():
        raw = F.col(quoted(source)).cast("string") if source is not None else None
        texts[TEXT + name] = _text(raw) if raw is not None else F.lit(None).cast("string")
    df = df.withColumns(texts)
    df = df.withColumns(
        {MARK + n: marks(n, cfg.missing_ids, cfg.unknown_labels()) for n in MARKED_COLUMNS}
    )
    added: dict[str, Column] = {}
    for name in LOCAL_TIMES:  # `__g_<c>` / `__o_<c>`: on the zone's daylight-saving edges
        added.update(local_times.never(name))
    for name, source in sources.items():
        if source is None:
            added[RAW + name] = F.lit(None).cast("string")
            added[PARSED + name] = F.lit(None).cast(_TYPES[name])
            if name in country_codes.COUNTRY_COLUMNS:
                added[country_codes.BEFORE + name] = added[PARSED + name]
            continue
        src = F.col(quoted(source))
        added[RAW + name] = src.cast("string")
        added[PARSED + name] = _parse(name, src, fields[source], cfg)
        if name in country_codes.COUNTRY_COLUMNS:  # US, USA, 840: one country, 'US'
            added[country_codes.BEFORE + name] = added[PARSED + name]
            added[PARSED + name] = country_codes.alpha2(added[PARSED + name])
        if name in LOCAL_TIMES:
            fmt = cfg.time_format(name)[0]
            added.update(
                local_times.columns(
                    name, src, fields[source], fmt, text_column(name), cfg.time_zone
                )
            )
    return amounts.convert(df.withColumns(added), cfg)


_text = parsing.text


def _parse(name: str, src: Column, dtype: T.DataType, cfg: EtlSection) -> Column:
    kind = _TYPES[name]
    if kind == "string":  # a float id 123.0 is id '123' (parsing.number_text)
        text = (
            text_column(name) if parsing.is_text(dtype) else _text(parsing.number_text(src, dtype))
        )
        if name in ID_COLUMNS:  # 'NULL', 'N/A', etl.missing_ids: no id (_marks); NFC, 12.0 = 12
            written = isinstance(dtype, T.StringType)  # '9100000000000808.0': inexact_id
            return F.when(~F.col(MARK + name), parsing.id_text(text, written))
        if name in CODE_WIDTHS:  # 5812.0 = 5812, 742 = 0742; 5812.5: inexact_code
            written = isinstance(dtype, T.StringType)
            return parsing.code_text(text, CODE_WIDTHS[name], written)
        return F.upper(text) if name == "channel" else text
    if kind == "timestamp":
        return parsing.timestamp(
            src, dtype, cfg.time_format(name)[0], text_column(name), cfg.time_zone,
            day_end=name in parsing.DAY_END_COLUMNS,
        )  # fmt: skip
    if kind == "double":
        return parsing.amount(src, dtype, cfg.decimal_separator, text_column(name))
    if kind == "int":  # the label: 0/1, 0.0/1.0, true/false, etl.label_values
        text = F.lower(text_column(name))
        # the built-in spellings (etl.config.BUILTIN_LABELS, which the config checks
        # label_values against) and the configured ones, compared as the config folds them
        words = {**BUILTIN_LABELS, **{fold_label(k): v for k, v in cfg.label_values.items()}}
        number = (
            F.when(text.isin(*[k for k, v in words.items() if v == 1]), 1.0)
            .when(text.isin(*[k for k, v in words.items() if v == 0]), 0.0)
            .otherwise(parsing.plain_number(text))
        )
        return F.when(number.isin(0.0, 1.0), number.cast("int"))
    raise SchemaError(f"no parser for canonical type {kind!r} of column {name}")


def text_column(name: str) -> Column:
    """The raw value as text without blanks at its ends (parsing.text; null if empty)."""
    return F.col(TEXT + name)
