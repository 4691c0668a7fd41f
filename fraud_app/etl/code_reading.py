"""An append onto a table published before the code columns were read as codes.

Since session 53 (probe53b) the ETL publishes a code column (mcc, country, card_country)
as its standard spells it (fraud_app.etl.parsing.code_text): `5812.0` is `5812`, an
all-digit code shorter than its standard's width is padded (`742` -> `0742`), and a
number that is no integer (`5812.5`) is quarantined. A table written before holds the
codes as they were delivered: an append onto it put `0742` beside the published `742`,
one merchant category split in two across the delivery boundary, to the frequency and
target encodings two categories (review53b: silently but for the drift WARNING, and
only when most added rows held the new spelling).

Since session 54 (probe54a) the country columns are published in one ISO 3166-1 form,
alpha-2 (fraud_app.etl.country_codes: `USA`, `840`, `us` are `US`); a table of session 53
holding `840` or `USA` is refused an append the same way; and since session 55 `UK` is
`GB` (fraud_app.etl.iso3166.ALIASES): a table of session 54 holding `UK` is refused too.

So every ETL report records `code_reading` (schema.CODE_READING). An append onto a table
whose last report has none, or an earlier one, reads the published code columns once, and when they hold a
value the current reading spells otherwise it refuses, before anything is written,
naming the columns and values and saying to rebuild (etl.mode: replace over every
delivery). A table of codes already so spelt (4-digit MCCs, alpha-2 countries: the
generator's data and most exports) is appended to as before, and its report then records
the reading (the check runs once).
"""

from __future__ import annotations

from pyspark.errors import AnalysisException
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from fraud_app import schema
from fraud_app.errors import DataIntegrityError
from fraud_app.etl import country_codes, parsing
from fraud_app.etl.fs import HadoopFs
from fraud_app.etl.publish import REPORT_NAME

_SHOWN = 5  # values named per column


def _spelt_otherwise(column: str) -> Column:
    """A published code the current reading publishes otherwise or quarantines."""
    text = F.col(column)
    again = parsing.code_text(text, schema.CODE_WIDTHS[column], written=True)
    if column in schema.COUNTRY_COLUMNS:  # 'USA', '840' -> 'US' (fraud_app.etl.country_codes)
        again = country_codes.alpha2(again)
    return (text != again) | text.rlike(f"{parsing.FRACTIONAL}|{parsing.SCIENTIFIC}")


def check_append(spark: SparkSession, fs: HadoopFs, table: str) -> None:
    """Refuse (DataIntegrityError) an append onto `table` when its last ETL report has
    no `code_reading` and its code columns hold a value this release spells otherwise."""
    report = f"{table.rstrip('/')}/{REPORT_NAME}"
    if not fs.exists(report):
        return
    try:
        last = fs.read_json(report)
    except ValueError:  # unreadable: repeated_job says so, and this run's report replaces it
        return
    if not isinstance(last, dict) or last.get("code_reading") == schema.CODE_READING:
        return
    try:
        published = spark.read.parquet(table)
    except AnalysisException:  # no data file (a run that published no row)
        return
    codes = [c for c in schema.CODE_WIDTHS if c in published.columns]
    if not codes:
        return
    bad = {c: _spelt_otherwise(c) for c in codes}
    # flagged in a projection, then aggregated: `code_text`'s NFC call (reflect) is not
    # deterministic to Spark, which allows it in no aggregate's argument
    flagged = published.select(*[F.when(b, F.col(c)).alias(c) for c, b in bad.items()])
    shown = flagged.agg(
        *[F.slice(F.array_sort(F.collect_set(c)), 1, _SHOWN).alias(c) for c in codes]
    ).first()
    found = {c: shown[c] for c in codes if shown[c]}
    if not found:
        return
    said = "; ".join(f"{c}: {', '.join(repr(v) for v in vs)}" for c, vs in found.items())
    before = last.get("code_reading") or "codes as delivered"
    raise DataIntegrityError(
        f"etl.mode: append onto {table}: the table was published by a release that spelt "
        f"code columns otherwise ({before!r}; now {schema.CODE_READING!r}), and it holds "
        f"codes this release publishes otherwise ({said}; e.g. '742' is now '0742', "
        "'5812.0' is '5812', a country 'USA', 'us' or '840' is 'US' and 'UK' is 'GB', a "
        "non-integer such as '5812.5' is quarantined as inexact_code). Appending would put both spellings of "
        "one code in the table, two categories to the encodings (and every row of a "
        "country 'US' beside a card_country '840' cross-border). Nothing was written. "
        "Rebuild the table with this release: run `fraud-app etl` with etl.mode: replace "
        "over every delivery (then the labels feeds again), and append to it after"
    )
