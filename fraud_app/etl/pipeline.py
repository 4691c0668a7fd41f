"""ETL: raw files -> canonical Parquet (typed, deduplicated, partitioned by event_date)
plus a quarantine of the rows that break a rule, with nothing silently dropped.

    input records = output rows + quarantined rows + dropped identical duplicates
                    (+ labels filled in)
    (etl.mode: append: output rows added to the published table; a record that brings
    the label of a published unlabelled row replaces that row: `labels_filled`)

is measured (the input as the staged records, one per record the reader produced, and
both outputs from their written files) and checked on every run; the counts go to the
log, to the returned EtlResult and to `_etl_report.json` inside the output directory.
Outputs are staged and swapped in (fraud_app.etl.publish: the whole table and quarantine
in replace mode, a re-run on the same input giving the same output; in append mode only
the date partitions that receive rows, and one new quarantine file). A run holds the lock
of `paths.root` (fraud_app.etl.lock) and first clears what killed runs left beside its
outputs.

Quarantine layout: `raw_<input column>` for every input column (the value as written),
then `reason`, `reason_detail`, `source_file`. The prefix keeps an input column named
e.g. `reason` from colliding with the quarantine's own columns.

Pure steps (`annotate_rows`, `valid_rows`, `quarantine_rows`, `deduplicate`) take and
return DataFrames; `run_etl` adds the reading, the staging of the input, the accounting,
the commit and the log; the write step (classify, stage both outputs, count) is
fraud_app.etl.outputs, whose names this module re-exports, and the result with its log
lines is fraud_app.etl.etl_result (`EtlResult`, re-exported).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import DataIntegrityError, EmptyInputError
from fraud_app.etl import (
    amounts,
    clock_resolution,
    code_reading,
    country_codes,
    dedup,
    label_clock,
    label_words,
    local_times,
    report_readings,
)
from fraud_app.etl import ledger as label_ledger
from fraud_app.etl.append_publish import AppendPublish
from fraud_app.etl.columns import near_column, shown_names, unread_columns
from fraud_app.etl.commit_source import input_identity
from fraud_app.etl.config import EtlSection
from fraud_app.etl.etl_result import EtlResult, log_result
from fraud_app.etl.fs import HadoopFs, check_apart, check_working_directory, clean_stale_staging
from fraud_app.etl.id_checks import placeholders_of, warn_placeholders
from fraud_app.etl.id_marks import placeholder_columns
from fraud_app.etl.lock import RootLock
from fraud_app.etl.outputs import (
    BROADCAST_CONFLICTS,
    RAW_PREFIX,
    ROW_KEY,
    SOURCE_FILE,
    deduplicate,
    quarantine_rows,
    write_outputs,
)
from fraud_app.etl.outputs import STAGED_FILE as _FILE
from fraud_app.etl.outputs import STAGED_RAW as _RAW
from fraud_app.etl.publish import REPORT_NAME, ReplacePublish, published_schema_errors
from fraud_app.etl.reader import CORRUPT_COLUMN, quoted, read_input
from fraud_app.etl.readers import refuse_while_read
from fraud_app.etl.rules import DETAIL, PARSED, REASON, annotate, parse_columns, resolve_sources
from fraud_app.etl.shared_columns import shared_columns
from fraud_app.etl.stage_summary import Staged, stage_input
from fraud_app.schema import REQUIRED_COLUMNS
from fraud_app.spark.arguments import require_config, require_session
from fraud_app.spark.connect import FILE_SYSTEM, classic_only
from fraud_app.spark.session import ensure_utc

logger = logging.getLogger(__name__)

_IN = "__in_"  # annotate_rows: input column i is read as `__in_<i>`
CANONICAL_NAMES = dedup.CANONICAL_NAMES
# the write step (fraud_app.etl.outputs) and its constants, importable from here as before
__all__ = [
    "BROADCAST_CONFLICTS", "CANONICAL_NAMES", "RAW_PREFIX", "ROW_KEY", "SOURCE_FILE",
    "EtlResult", "annotate_rows", "deduplicate", "quarantine_rows", "run_etl",
    "valid_rows", "write_outputs",
]  # fmt: skip


def annotate_rows(raw: DataFrame, cfg: EtlSection, where: str, fmt: str | None = None) -> DataFrame:
    """One row per input record: canonical typed columns, `reason`/`reason_detail` (null =
    clean), the source file and the original values as strings (`__raw_<i>`, i = position
    in `raw.columns`). Input columns are renamed to `__in_<i>` first, so no input name
    (e.g. `reason`) can collide with a working column. SchemaError before any Spark job."""
    sources = resolve_sources(raw, cfg, where)
    currency = amounts.currency_source(raw.columns, cfg, where)[0]
    renamed = {c: f"{_IN}{i}" for i, c in enumerate(raw.columns)}
    safe = raw.select(
        *[F.col(quoted(c)).alias(n) for c, n in renamed.items()],
        F.input_file_name().alias(_FILE),
    )
    safe_sources = {k: (renamed[v] if v is not None else None) for k, v in sources.items()}
    inputs = {n: c for c, n in renamed.items()}
    corrupt = renamed.get(CORRUPT_COLUMN)
    with shared_columns():  # the marks' Columns again in the rules and the placeholders
        parsed = parse_columns(safe, safe_sources, cfg, renamed.get(currency))
        label_time = PARSED + "label_time" if safe_sources["label_time"] is not None else None
        parsed = label_clock.read_day_clock(parsed, label_time, cfg.time_zone)[0]
        annotated = annotate(parsed, cfg, inputs, corrupt, fmt=fmt)
        return _annotated_layout(annotated, renamed, currency, cfg)


def _annotated_layout(
    annotated: DataFrame, renamed: dict[str, str], currency: str | None, cfg: EtlSection
) -> DataFrame:
    """annotate_rows' result columns, in order, from the annotated working columns."""
    return annotated.select(
        *[F.col(PARSED + c).alias(c) for c in CANONICAL_NAMES],
        REASON,
        DETAIL,
        F.nullif(F.col(_FILE), F.lit("")).alias(_FILE),
        *[F.col(n).cast("string").alias(f"{_RAW}{i}") for i, n in enumerate(renamed.values())],
        F.greatest(*[F.col(local_times.OVERLAP + c) for c in local_times.LOCAL_TIMES]).alias(
            local_times.AMBIGUOUS
        ),
        *[c.alias(n) for n, c in placeholder_columns().items()],
        *[c.alias(n) for n, c in label_words.staged_columns(cfg).items()],
        *[c.alias(n) for n, c in amounts.staged_columns(cfg).items()],
        *[c.alias(n) for n, c in country_codes.staged_columns(PARSED).items()],
        F.col(label_clock.MOVED),
        *([F.col(amounts.CURRENCY)] if currency is not None else []),
    )


def valid_rows(annotated: DataFrame) -> DataFrame:
    """The rows that broke no rule, in the canonical layout (duplicates still present)."""
    return annotated.filter(F.col(REASON).isNull()).select(*CANONICAL_NAMES)


@classic_only("run_etl", FILE_SYSTEM)
def run_etl(spark: SparkSession, config: AppConfig) -> EtlResult:
    """Read `etl.input`, write canonical + quarantine Parquet, return the counts.

    Holds the lock of `paths.root` (ConcurrentRunError when another run holds it). The
    session's time zone is set to UTC first (naive timestamps and event_date are UTC).
    """
    require_session(spark, "run_etl")
    require_config(config, "run_etl")
    ensure_utc(spark)  # a notebook's own session in another zone shifted both silently
    check_working_directory(spark, config.paths.root)
    with RootLock(config.paths.driver_root(), "etl"):
        refuse_while_read(config.paths.driver_root(), "etl", "canonical")
        return _run_locked(spark, config)


@dataclass(frozen=True)
class _Run:
    """One locked ETL run: its input (`src`, read as `fmt`, with the input `columns`), its
    two outputs (`finals`: canonical table, quarantine) and the publish staging them."""

    config: AppConfig
    src: str
    fmt: str
    columns: list[str]
    finals: tuple[str, str]
    publish: AppendPublish | ReplacePublish
    started: float
    unread: tuple[str, ...] = ()  # input columns no canonical column reads


def input_path(config: AppConfig) -> str:
    """What the ETL reads: etl.input, else paths.raw."""
    return config.etl.input or config.paths.resolve("raw")


def _run_locked(spark: SparkSession, config: AppConfig) -> EtlResult:
    """The input is parsed once into a staging Parquet dataset (typed columns + reason +
    raw strings + ROW_KEY); counts, quarantine and output are read from it."""
    started = time.monotonic()
    cfg: EtlSection = config.etl
    fs = HadoopFs(spark)
    src = input_path(config)
    finals = _cleared_outputs(spark, fs, src, config.etl_tables())
    raw, fmt = read_input(spark, src, cfg)
    annotated = annotate_rows(raw, cfg, src, fmt)
    _warn_without_labels(raw.columns, cfg, src)
    _warn_mapped_absent(raw.columns, cfg, src)
    unread = _log_unread_columns(raw, cfg, src)
    run = _Run(config, src, fmt, raw.columns, finals, _publish(spark, cfg, finals, src), started,
               tuple(unread))  # fmt: skip
    # replace rebuilds the table: the labels feeds filled in are re-applied (fraud_app.etl.ledger)
    ledger = None if cfg.mode == "append" else label_ledger.read_ledger(spark, fs, finals[0])
    if cfg.mode == "append":  # a table of codes as delivered (before session 53): refused
        code_reading.check_append(spark, fs, finals[0])
    try:
        result = _staged_result(spark, fs, run, annotated, ledger)
    except BaseException:
        run.publish.discard()
        raise
    finally:
        fs.delete(run.publish.stage_path)
    run.publish.commit(jsonout.dumps(result.to_dict(), indent=2))
    log_result(result, cfg.source_for)
    warn_placeholders(result.placeholder_ids)
    return result


def _cleared_outputs(spark: SparkSession, fs: HadoopFs, src: str, finals) -> tuple[str, str]:
    """The outputs (canonical table, quarantine), checked apart from the input and each
    other, with what killed runs left beside them cleared."""
    check_apart(spark, {"etl.input": src}, {"etl.output": finals[0], "etl.quarantine": finals[1]})
    for final in finals:
        clean_stale_staging(fs, final)
    return finals


def _publish(
    spark: SparkSession, cfg: EtlSection, finals, src: str
) -> AppendPublish | ReplacePublish:
    if cfg.mode == "append":  # its input recorded: only its own retry finishes a killed run
        source = input_identity(HadoopFs(spark), "etl", [src])
        return AppendPublish(spark, *finals, compact_files=cfg.compact_files, source=source)
    return ReplacePublish(spark, *finals)


def _staged_result(spark: SparkSession, fs: HadoopFs, run: _Run, annotated: DataFrame,
                   ledger) -> EtlResult:  # fmt: skip
    """Stage the annotated input, write both outputs from it, and return the checked counts."""
    staged = _stage_input(spark, annotated, run)
    stage, cfg = staged.rows, run.config.etl
    with published_schema_errors(fs.qualify(run.finals[0])):
        counts = write_outputs(stage, run.columns, run.publish, cfg, ledger,
                               round(run.config.features.label_delay_days * 86_400))  # fmt: skip
    output = run.finals[0].rstrip("/")
    # the stage's small questions: aggregates observed as it was written (stage_summary)
    ambiguous, date_only = local_times.times_of(staged.metrics, cfg.time_zone)
    report = _last_report(fs, run)  # None: a replace, or no readable report to append to
    last = report or {}  # each clock's WARNING is said once per table
    moved = int(staged.metrics.get(label_clock.MOVED) or 0)  # midnights read as day ends
    result = EtlResult(
        input_path=run.src, input_format=run.fmt, output_path=output,
        quarantine_path=run.finals[1].rstrip("/"),
        report_path=f"{output}/{REPORT_NAME}", input_rows=staged.input_rows,
        seconds=round(time.monotonic() - run.started, 3),
        dropped_dates=run.publish.dropped_dates(),
        ambiguous_local_times=ambiguous, date_only_timestamps=date_only,
        timestamp_resolution=clock_resolution.resolution_of(
            staged.metrics, cfg, last.get("timestamp_resolution")),
        country_codes=country_codes.counts_of(
            staged.metrics, cfg.source_for, last.get("country_codes")),
        label_time_resolution=label_clock.resolution_of(staged.metrics),
        label_times_read_as_day_end=_label_days(moved, run, last),
        placeholder_ids=placeholders_of(staged.metrics, stage) if cfg.missing_ids else {},
        mixed_label_words=label_words.mixed_of(staged.metrics, cfg), **counts,
        unread_columns=run.unread,
        **_amount_fields(stage, run, counts["previous_rows"], staged.metrics),
        **_reading_fields(run, counts["previous_rows"], report, moved),
        **_append_fields(run.publish),
    )  # fmt: skip
    _check_accounting(result)
    return result


def _label_days(moved: int, run: _Run, last: dict) -> int:
    """The delivery's `moved` midnight label_times read as their day's end
    (label_clock.read_day_clock), said in one line: a WARNING unless the table's last
    report read its label clock as days."""
    first = last.get("label_time_resolution") != "day"
    label_clock.say_read_as_day_end(moved, f"ETL {run.src}", run.config.etl.time_zone, first)
    return moved


def _last_report(fs: HadoopFs, run: _Run) -> dict | None:
    """On an append, the table's last ETL report (before this run's replaces it), read once
    for the clocks' WARNINGs and the readings' checks (_reading_fields); None on a replace,
    without one, unreadable (repeated_job says so) or not a JSON object."""
    report = f"{run.finals[0].rstrip('/')}/{REPORT_NAME}"
    if run.config.etl.mode != "append" or not fs.exists(report):
        return None
    try:
        last = fs.read_json(report)
    except ValueError:
        return None
    return last if isinstance(last, dict) else None


def _amount_fields(stage: DataFrame, run: _Run, previous_rows: int, metrics: dict) -> dict:
    """The currency column's rows per currency and the minor-unit look of a first load
    (nothing published before: a replace run, or an append to an empty table)."""
    cfg = run.config.etl
    source = amounts.currency_source(run.columns, cfg, run.src)
    found = amounts.summarise(stage, cfg, source, first_load=previous_rows == 0, metrics=metrics)
    return {"currency_column": found.column, "currencies": found.currencies,
            "amounts_look_minor": found.looks_minor}  # fmt: skip


def _reading_fields(run: _Run, previous_rows: int, last: dict | None, moved: int) -> dict:
    """The readings the report records (report_readings.recorded); an append to a table
    whose previous run (its report `last`, _last_report) read the amounts, the label_time
    (`moved`: midnights read as day ends) or the times otherwise is named (before the
    commit replaces that run's report)."""
    cfg = run.config.etl
    if previous_rows and last is not None:  # an append onto a table with a report
        report_readings.check_readings(last, cfg, run.finals[0], moved)
    return report_readings.recorded(cfg)


def _append_fields(publish: AppendPublish | ReplacePublish) -> dict:
    if not isinstance(publish, AppendPublish):
        return {}
    return {"job": publish.swap.job, "source": publish.source or {},
            "repeat_of": publish.repeated_job()}  # fmt: skip


def _stage_input(spark: SparkSession, annotated: DataFrame, run: _Run) -> Staged:
    """The annotated input staged (fraud_app.etl.stage_summary: written once to the
    publish's staging path, read back, its summary observed as it is written);
    EmptyInputError when it holds no records."""
    staged = stage_input(spark, annotated, run.publish.stage_path, run.config.etl)
    if staged.input_rows == 0:
        raise EmptyInputError(
            f"ETL input {run.src} ({run.fmt}) holds no rows: its files hold no records (a CSV "
            "header line only, or empty JSON / Parquet files). Expected at least one "
            "transaction; check the delivery"
        )
    return staged


def _warn_without_labels(columns: list[str], cfg: EtlSection, src: str) -> None:
    if cfg.source_for("label") not in columns:  # allowed (etl.allow_unlabelled), else a SchemaError
        logger.warning(
            "ETL input %s has no label column (looked for %r): every row is published "
            "unlabelled (label null; etl.allow_unlabelled). If the labels are in another "
            "column, map it under etl.columns.label",
            src, cfg.source_for("label"),
        )  # fmt: skip


def _warn_mapped_absent(columns: list[str], cfg: EtlSection, src: str) -> None:
    """Optional columns etl.columns maps to a name the input lacks (a typo, a mapping left
    from another export) are published null and their features skipped while the table
    holds no value in them: say which (an append whose table holds values there: also
    delivery_checks.emptied_columns)."""
    absent = {c: s for c, s in cfg.columns.items()
              if c not in REQUIRED_COLUMNS and s not in columns}  # fmt: skip
    if absent:
        logger.warning(
            "ETL input %s lacks the column(s) etl.columns maps %s: those canonical columns "
            "are published null (the features that read them are skipped while the whole "
            "table holds no value in them; else its rows get their fill value). Columns present: "
            "%s. Fix the name, or remove the mapping if the export has no such column",
            src, ", ".join(f"{c} -> {s!r}" for c, s in absent.items()),
            sorted(c for c in columns if c != CORRUPT_COLUMN),
        )  # fmt: skip
    free = set(columns) - set(cfg.columns.values())  # not one another mapping reads
    near = {c: p for c in absent if (p := near_column(c, absent[c], free))}
    if near:  # walk55: `channel: entry_mode` left from init over an export's `Channel`
        logger.warning(
            "ETL input %s holds %s: spelled as the canonical column but for case, spaces, "
            "'_' or '-' (names are matched exactly). Map it: %s",
            src, ", ".join(f"{p!r} for {c}" for c, p in near.items()),
            ", ".join(f"etl.columns.{c}: {json.dumps(p)}" for c, p in near.items()),
        )  # fmt: skip


def _log_unread_columns(raw: DataFrame, cfg: EtlSection, src: str) -> list[str]:
    """The input columns no canonical column reads (the report's `unread_columns`), named
    in one INFO line; an unmapped optional canonical column whose name an unread column
    holds but for case, spaces, '_' or '-' (`MCC`, `Merchant_ID`) in a WARNING: it is
    published null (it was, without a word at the ETL)."""
    sources = resolve_sources(raw, cfg, src)
    currency = amounts.currency_source(raw.columns, cfg, src)[0]
    unread, near = unread_columns(raw.columns, sources, currency, frozenset(cfg.columns))
    if unread:
        logger.info(
            "ETL input %s: %d of its %d column(s) are not read, the canonical table holds "
            "only the canonical columns (etl.columns maps an export's column onto one; a "
            "quarantined record keeps every column): %s",
            src, len(unread), len([c for c in raw.columns if c != CORRUPT_COLUMN]),
            shown_names(unread),
        )  # fmt: skip
    if near:
        logger.warning(
            "ETL input %s: %s not read: a canonical column not under etl.columns is looked "
            "for under its exact name, so %s published null on every row (the features "
            "that read it are skipped). Map it: %s",
            src, ", ".join(f"column {c!r}" for c in near.values()),
            " and ".join(near) + (" is" if len(near) == 1 else " are"),
            ", ".join(f"etl.columns.{k}: {json.dumps(v)}" for k, v in near.items()),
        )  # fmt: skip
    return unread


def _check_accounting(r: EtlResult) -> None:
    quarantined = sum(r.quarantine_by_reason.values())
    added = r.output_rows - r.previous_rows
    if (
        r.input_rows != added + r.quarantine_rows + r.duplicate_rows + r.labels_filled
        or r.quarantine_rows != quarantined
        or None in r.quarantine_by_reason
        or min(r.output_rows, r.quarantine_rows, r.duplicate_rows, r.previous_rows) < 0
        or min(r.labels_filled, r.unlabelled_rows) < 0
        or r.unlabelled_rows > max(added, 0)
    ):
        before = f" - published before {r.previous_rows}" if r.previous_rows else ""
        filled = f" + labels filled in {r.labels_filled}" if r.labels_filled else ""
        unlabelled = f" (unlabelled rows added: {r.unlabelled_rows})" if r.unlabelled_rows else ""
        raise DataIntegrityError(
            f"ETL row accounting does not add up for {r.input_path}: input {r.input_rows} != "
            f"output {r.output_rows}{before} + quarantine {r.quarantine_rows} (by reason: {quarantined}) "
            f"+ duplicates {r.duplicate_rows}{filled}{unlabelled}. Nothing was published; please "
            "report this with the input."
        )
