"""Late labels: a labels-only feed (chargebacks, confirmed-fraud lists) applied to the
published canonical table, with nothing lost and no published label silently overwritten.

A feed holds `transaction_id`, `label` and optionally `label_time` (named as `etl.columns`
maps them, else by these canonical names; the ETL's `etl.label_values`,
`etl.label_time_format` and input formats; other columns are kept in the quarantine
only). Without `label_time` (delay-only) a filled row keeps label_time null, as the ETL
publishes a labelled row without one: the features then take its label as known at
timestamp + features.label_delay_days (fraud_app.features.labels). Each feed row ends in
exactly one place:

    input rows = labels_filled + labels_unchanged + labels_corrected + quarantined
                 + duplicate_rows

  filled      the published row is unlabelled: it takes the label (and label_time)
  unchanged   the published row already has this label (its label_time is kept; one
              giving another label_time is counted as `label_time_changed`, a WARNING)
  corrected   `etl.label_corrections: apply` (default): the published 0 becomes 1 with the
              correction's known time as label_time (fraud_app.etl.labels_classify: its
              label_time; a row without one: this run's time, never timestamp + delay)
  quarantined the ETL's per-row reasons (fraud_app.etl.rules: missing_required_field for
              a null transaction_id or label, inexact_id, invalid_label,
              unparseable_label_time, label_time_out_of_range, label_time_before_timestamp
              against the published timestamp); `conflicting_duplicate`: an id given
              with different (label, label_time) in the feed (every version, none
              applied); `unknown_transaction`: the id is not in the table (yet);
              `correction_not_after_published_label`: a 0 -> 1 known no later than the
              published 0; `label_reversal_not_supported`: a 1 -> 0;
              `conflicting_label`: another label under `etl.label_corrections: quarantine`
  duplicate   an identical copy of another feed row (counted once)

Only the event_date partitions holding a filled or corrected row are rewritten, through
the ETL's append staging and swap (fraud_app.etl.labels_apply, through
fraud_app.etl.append_publish.AppendPublish, job `labels-<token>`): a killed run leaves
every partition complete and the next `labels` or `etl --mode append` run recovers; the
retry of a killed run on the same feed first takes its change back out (its swapped-in
dates, its ledger file; session 40), so it counts and reports the feed as the
uninterrupted run; the quarantine rows are added as one new file. The
report is `<table>/_labels_report.json`. Re-running a feed is idempotent (its filled and
corrected rows are then unchanged; a quarantine row equal in its raw values and reason to
one the quarantine holds is not added again: `already_quarantined`), which is also how
quarantined `unknown_transaction` rows are re-applied once their transactions have been
published. Each fill and correction is recorded in the label ledger
(fraud_app.etl.ledger) with the label it replaced, which an `etl.mode: replace` rebuild
re-applies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass, field
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import DataIntegrityError, EmptyInputError, SchemaError
from fraud_app.etl import label_clock, quarantine_counts, report_readings
from fraud_app.etl import labels_classify as lc
from fraud_app.etl.append_publish import AppendPublish
from fraud_app.etl.commit_source import input_identity
from fraud_app.etl.config import EtlSection
from fraud_app.etl.fs import (
    HadoopFs,
    check_apart,
    check_working_directory,
    clean_stale_staging,
)
from fraud_app.etl.labels_apply import REPORT, apply_feed
from fraud_app.etl.lock import RootLock
from fraud_app.etl.pipeline import RAW_PREFIX
from fraud_app.etl.publish import REPORT_NAME, published_schema_errors
from fraud_app.etl.reader import CORRUPT_COLUMN, quoted, read_input
from fraud_app.etl.readers import refuse_while_read
from fraud_app.etl.rules import (
    DETAIL,
    PARSED,
    REASON,
    annotate,
    build_rules,
    missing_rule,
    parse_columns,
)
from fraud_app.etl.shared_columns import shared_columns
from fraud_app.etl.table_read import read_table
from fraud_app.etl.written import read_written, written_rows
from fraud_app.schema import CANONICAL_COLUMNS
from fraud_app.spark.connect import FILE_SYSTEM, classic_only
from fraud_app.spark.session import ensure_utc

logger = logging.getLogger(__name__)

FEED_COLUMNS = ("transaction_id", "label", "label_time")
# the per-row rules of the ETL that a label row can break (after encoding / malformed)
FEED_RULES = (
    "inexact_id",
    "invalid_label",
    "unparseable_label_time",
    "nonexistent_local_time",
    "label_time_out_of_range",
)


@dataclass(frozen=True)
class LabelsResult:
    input_paths: tuple[str, ...]
    output_path: str
    quarantine_path: str
    report_path: str
    input_rows: int
    labels_filled: int
    labels_unchanged: int
    quarantine_rows: int
    duplicate_rows: int
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    quarantine_examples: dict[str, str] = field(default_factory=dict)
    partitions_rewritten: tuple[str, ...] = ()
    delay_only: bool = False  # no input file had a label_time column
    seconds: float = 0.0
    # of quarantine_rows: equal (raw values and reason) to a row the quarantine already
    # holds, from an earlier run of this feed: not added again
    already_quarantined: int = 0
    # the feeds' label_time values written as a day's midnight and read as the END of that
    # day, a feed's every label_time being a whole day (fraud_app.etl.label_clock, review54a)
    label_times_read_as_day_end: int = 0
    # of labels_unchanged: the feed gives another label_time (the published one is kept)
    label_time_changed: int = 0
    label_time_changed_example: str = ""
    # filled and corrected labels recorded in the label ledger (fraud_app.etl.ledger)
    ledger_entries_added: int = 0
    # published labels this feed corrected (0 -> 1; fraud_app.etl.labels_classify), one in
    # words, and etl.label_corrections (quarantine: every correction `conflicting_label`)
    labels_corrected: int = 0
    label_correction_example: str = ""
    label_corrections: str = "apply"

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.quarantine_by_reason.items())
        if self.already_quarantined:
            reasons += f"; {self.already_quarantined} already there from an earlier run"
        changed = (f" ({self.label_time_changed} with another label_time, published one kept)"
                   if self.label_time_changed else "")  # fmt: skip
        fixed = (f"{self.labels_corrected} corrected (e.g. {self.label_correction_example}), "
                 if self.labels_corrected else "")  # fmt: skip
        return (
            f"labels: {self.input_rows} rows in -> {self.labels_filled} filled, {fixed}"
            f"{self.labels_unchanged} unchanged{changed}, {self.quarantine_rows} quarantined"
            f"{f' ({reasons})' if reasons else ''}, {self.duplicate_rows} duplicate(s); "
            f"{len(self.partitions_rewritten)} partition(s) rewritten; report {self.report_path}"
        )


def feed_columns(present: list[str], cfg: EtlSection) -> dict[str, str]:
    """transaction_id / label / label_time -> the feed's column: the name etl.columns maps
    it to (the ETL input's), else the canonical name (a feed written by hand or by another
    system than the transactions' export), when the feed has it."""
    names = {}
    for c in FEED_COLUMNS:
        found = [n for n in (cfg.source_for(c), c) if n in present]
        if found:
            names[c] = found[0]
    return names


def annotate_feed(
    raw: DataFrame, cfg: EtlSection, where: str, fmt: str | None = None
) -> tuple[DataFrame, int]:
    """One row per feed record: transaction_id, label, label_time (typed), `reason` /
    `reason_detail` of the first per-row rule broken (null: clean), the source file and
    every input column as text under `raw_<name>`; and how many of its label_times were
    midnights of a clock of days read as their day's end, as the ETL reads them
    (label_clock.read_day_clock, Spark jobs only when the feed has a label_time column).
    SchemaError before any Spark job when transaction_id or label is absent."""
    present = [c for c in raw.columns if c != CORRUPT_COLUMN]
    names = feed_columns(present, cfg)
    missing = [c for c in FEED_COLUMNS[:2] if c not in names]
    if missing:
        wanted = ", ".join(
            f"{c} (looked for {cfg.source_for(c)!r}"
            + (f", as etl.columns maps it, or {c!r})" if cfg.source_for(c) != c else ")")
            for c in missing
        )
        raise SchemaError(
            f"label feed {where} lacks column(s) {wanted}. Columns present: {sorted(present)}. "
            "Expected transaction_id, label and optionally label_time (map other names under "
            f"etl.columns, e.g. `etl.columns.{missing[0]}: <your column name>`)"
        )
    renamed = {c: f"__in_{i}" for i, c in enumerate(raw.columns)}
    safe = raw.select(*[F.col(quoted(c)).alias(n) for c, n in renamed.items()],
                      F.input_file_name().alias(lc.FILE))  # fmt: skip
    sources = {c.name: None for c in CANONICAL_COLUMNS}
    sources.update({c: renamed[n] for c, n in names.items()})
    inputs = {n: c for c, n in renamed.items()}
    with shared_columns():  # the marks' and the rules' Columns built once (etl.annotate)
        rules = (missing_rule(FEED_COLUMNS[:2]),
                 *[r for r in build_rules(cfg) if r.code in FEED_RULES])  # fmt: skip
        label_time = PARSED + "label_time" if "label_time" in names else None
        parsed, moved = label_clock.read_day_clock(
            parse_columns(safe, sources, cfg), label_time, cfg.time_zone
        )
        annotated = annotate(parsed, cfg, inputs, renamed.get(CORRUPT_COLUMN), rules, fmt)
    return annotated.select(
        *[F.col(PARSED + c).alias(c) for c in FEED_COLUMNS], REASON, DETAIL,
        F.nullif(F.col(lc.FILE), F.lit("")).alias(lc.FILE),
        *[F.col(n).cast("string").alias(f"{RAW_PREFIX}{c}") for c, n in renamed.items()],
    ), moved  # fmt: skip


@classic_only("run_labels", FILE_SYSTEM)
def run_labels(spark: SparkSession, config: AppConfig, inputs: list[str]) -> LabelsResult:
    """Apply the label feed `inputs` (files or folders) to the canonical table; the
    quarantine and the lock are the ETL's (etl.output / etl.quarantine, paths.root)."""
    ensure_utc(spark)
    check_working_directory(spark, config.paths.root)
    with RootLock(config.paths.driver_root(), "labels"):
        refuse_while_read(config.paths.driver_root(), "labels", "canonical")
        return _run_locked(spark, config, inputs)


@dataclass(frozen=True)
class _FeedRun:
    """One locked labels run: the feeds (`inputs`, their `annotated` rows; `delay_only`
    when none has a label_time column), the canonical `table` and its `quarantine`, the
    `publish` staging both, `now` (applied_at) and when the run `started`."""

    inputs: list[str]
    annotated: list[DataFrame]
    delay_only: bool
    table: str
    quarantine: str
    publish: AppendPublish
    now: dt.datetime
    started: float
    label_times_read_as_day_end: int = 0  # annotate_feed's, over every feed


def _run_locked(spark: SparkSession, config: AppConfig, inputs: list[str]) -> LabelsResult:
    started, cfg, fs = time.monotonic(), config.etl, HadoopFs(spark)
    table, quarantine = (path.rstrip("/") for path in config.etl_tables())
    _check_feeds(spark, fs, inputs, table, quarantine)
    feeds = [_read_feed(spark, p, cfg) for p in inputs]
    delay_only = all("label_time" not in feed_columns(raw.columns, cfg) for raw, _, _ in feeds)
    now = dt.datetime.now(dt.UTC)  # applied_at, and when a correction without label_time is known
    moved = sum(m for _, _, m in feeds)  # midnights of a clock of days read as day ends
    last = None if delay_only else _etl_report(fs, table)  # delay_only: moved is 0
    if not delay_only and last is not None:
        # a feed's date-only label_time is read as its day's end; the table's last ETL run
        # may have read such dates as their midnight (before review51c), or its times
        # otherwise (review52a): say so (session 51)
        report_readings.check_readings(last, cfg, table, moved, feed=True)
    if delay_only:
        logger.info("label feed without label_time: filled labels keep label_time null "
                    "(known at timestamp + features.label_delay_days); a correction is "
                    "known at this run's time, %s", now.isoformat())  # fmt: skip
    for final in (table, quarantine):
        clean_stale_staging(fs, final)
    publish = AppendPublish(spark, table, quarantine, job="labels", report=REPORT,
                            compact_files=config.etl.compact_files,
                            source=input_identity(fs, "labels", inputs))  # fmt: skip
    if moved:  # the line per feed, a WARNING where the table's reports never said it
        first = _first_day_clock(fs, table, last)
        for path, (_, _, feed_moved) in zip(inputs, feeds, strict=True):
            label_clock.say_read_as_day_end(feed_moved, f"label feed {path}", cfg.time_zone, first)
    run = _FeedRun(inputs, [annotated for _, annotated, _ in feeds], delay_only, table,
                   quarantine, publish, now, started, moved)  # fmt: skip
    try:
        result = _applied(spark, fs, config, run)
    except BaseException:
        publish.discard()
        raise
    finally:
        fs.delete(publish.stage_path)
    publish.commit(jsonout.dumps(result.to_dict(), indent=2))
    logger.info("%s", result.summary())
    return result


def _check_feeds(spark: SparkSession, fs: HadoopFs, inputs: list[str], table: str,
                 quarantine: str) -> None:  # fmt: skip
    """The feeds exist and are apart from the outputs (ConfigError / EmptyInputError)."""
    reads = {f"label feed {i + 1}": p for i, p in enumerate(inputs)}
    check_apart(spark, reads, {"etl.output": table, "etl.quarantine": quarantine})
    for path in inputs:
        if not fs.exists(path):
            raise EmptyInputError(
                f"label feed {path} does not exist; expected a CSV, Parquet or JSON file (or a "
                "folder of them) with columns transaction_id, label and optionally label_time"
            )


def _applied(spark: SparkSession, fs: HadoopFs, config: AppConfig, run: _FeedRun) -> LabelsResult:
    """Stage the feeds, apply them to the published table through the run's publish, and
    return the checked counts."""
    published = read_table(spark, run.table, "labels: canonical table", "etl")
    stage, input_rows, rejected = _stage_feeds(spark, run)
    with published_schema_errors(fs.qualify(run.table)):
        counts = apply_feed(spark, stage, published, run.publish, run.table, config, run.now,
                            rejected)  # fmt: skip
    result = LabelsResult(
        input_paths=tuple(run.inputs), output_path=run.table, quarantine_path=run.quarantine,
        report_path=f"{run.table}/{REPORT}", input_rows=input_rows, delay_only=run.delay_only,
        seconds=round(time.monotonic() - run.started, 3),
        label_times_read_as_day_end=run.label_times_read_as_day_end, **counts,
    )  # fmt: skip
    check_accounting(result)
    return result


def _stage_feeds(spark: SparkSession, run: _FeedRun) -> tuple[DataFrame, int, tuple[dict, dict]]:
    """The annotated feeds written once to the publish's staging path, read back, their
    row count, and the rows a per-row rule rejected per reason with each reason's smallest
    detail; EmptyInputError when they hold no rows. Read back with the schema written and
    counted from the footers: no Spark job (was three, session 41); the rejects observed
    on the write (fraud_app.etl.quarantine_counts: a group-by was 2 jobs, session 43)."""
    feed = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), run.annotated)
    observed, observation = quarantine_counts.observe(feed)
    observed.write.mode("error").parquet(run.publish.stage_path)
    stage = read_written(spark, feed.schema, run.publish.stage_path)
    input_rows = written_rows(run.publish.fs, stage, run.publish.stage_path)
    if input_rows == 0:
        raise EmptyInputError(f"label feed {', '.join(run.inputs)} holds no rows; expected "
                              "at least one transaction_id with its label")  # fmt: skip
    return stage, input_rows, quarantine_counts.rejected(stage, input_rows, observation)


def _read_feed(spark: SparkSession, path: str, cfg: EtlSection) -> tuple[DataFrame, DataFrame, int]:
    raw, fmt = read_input(spark, path, cfg)
    return raw, *annotate_feed(raw, cfg, path, fmt)


def _etl_report(fs: HadoopFs, table: str) -> object:
    """The table's last ETL report as read (any JSON value), read once per run for the
    readings' checks and _first_day_clock; None without one or unreadable (the ETL's own
    check names it)."""
    path = f"{table}/{REPORT_NAME}"
    if not fs.exists(path):
        return None
    try:
        return fs.read_json(path)
    except ValueError:
        return None


def _first_day_clock(fs: HadoopFs, table: str, etl_report: object) -> bool:
    """Whether a feed's midnights read as their day's end are news to the table: neither
    its last ETL report (`etl_report`, _etl_report) read its label clock as days nor its
    last labels report read any so (then the line is a WARNING, else INFO: a daily feed
    says it on every run)."""
    if isinstance(etl_report, dict) and etl_report.get("label_time_resolution") == "day":
        return False
    with contextlib.suppress(ValueError):
        last = fs.read_json(f"{table}/{REPORT}") if fs.exists(f"{table}/{REPORT}") else {}
        if isinstance(last, dict) and last.get("label_times_read_as_day_end"):
            return False
    return True


def check_accounting(r: LabelsResult) -> None:
    """input rows = filled + unchanged + corrected + quarantined + duplicates, or
    DataIntegrityError."""
    parts = (r.labels_filled, r.labels_unchanged, r.labels_corrected, r.quarantine_rows,
             r.duplicate_rows)  # fmt: skip
    if (
        r.input_rows != sum(parts)
        or r.quarantine_rows != sum(r.quarantine_by_reason.values())
        or min(parts) < 0
        or not 0 <= r.already_quarantined <= r.quarantine_rows
        or not 0 <= r.label_time_changed <= r.labels_unchanged
    ):
        raise DataIntegrityError(
            f"label feed row accounting does not add up for {', '.join(r.input_paths)}: input "
            f"{r.input_rows} != filled {r.labels_filled} + unchanged {r.labels_unchanged} + "
            f"corrected {r.labels_corrected} + quarantined {r.quarantine_rows} (already there {r.already_quarantined}) + "
            f"duplicates {r.duplicate_rows} (unchanged with another label_time "
            f"{r.label_time_changed}). Nothing was published; please report this with the feed."
        )
