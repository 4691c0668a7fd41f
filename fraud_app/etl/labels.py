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
the ETL's append staging and swap (fraud_app.etl.publish.AppendPublish, job
`labels-<token>`): a killed run leaves every partition complete and the next `labels` or
`etl --mode append` run recovers; the quarantine rows are added as one new file. The
report is `<table>/_labels_report.json`. Re-running a feed is idempotent (its filled and
corrected rows are then unchanged; a quarantine row equal in its raw values and reason to
one the quarantine holds is not added again: `already_quarantined`), which is also how
quarantined `unknown_transaction` rows are re-applied once their transactions have been
published. Each fill and correction is recorded in the label ledger
(fraud_app.etl.ledger) with the label it replaced, which an `etl.mode: replace` rebuild
re-applies.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import DataIntegrityError, EmptyInputError, SchemaError
from fraud_app.etl import labels_classify as lc
from fraud_app.etl.config import EtlSection
from fraud_app.etl.fs import (
    HadoopFs,
    check_apart,
    check_working_directory,
    clean_stale_staging,
    read_table,
)
from fraud_app.etl.ledger import KIND_CORRECTION, KIND_FILL, ledger_path, new_entries, read_ledger
from fraud_app.etl.lock import RootLock
from fraud_app.etl.partition_swap import partition_name
from fraud_app.etl.pipeline import CANONICAL_NAMES, RAW_PREFIX, SOURCE_FILE
from fraud_app.etl.publish import AppendPublish, published_schema_errors
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
from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN
from fraud_app.spark.session import ensure_utc

logger = logging.getLogger(__name__)

REPORT = "_labels_report.json"
FEED_COLUMNS = ("transaction_id", "label", "label_time")
# the per-row rules of the ETL that a label row can break (after encoding / malformed)
FEED_RULES = (
    "inexact_id",
    "invalid_label",
    "unparseable_label_time",
    "nonexistent_local_time",
    "label_time_out_of_range",
)
CANONICAL_DDL = ", ".join(f"`{c.name}` {c.spark_type}" for c in CANONICAL_COLUMNS)


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


def annotate_feed(raw: DataFrame, cfg: EtlSection, where: str) -> DataFrame:
    """One row per feed record: transaction_id, label, label_time (typed), `reason` /
    `reason_detail` of the first per-row rule broken (null: clean), the source file and
    every input column as text under `raw_<name>`. SchemaError before any Spark job
    when transaction_id or label is absent."""
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
    rules = (missing_rule(FEED_COLUMNS[:2]),
             *[r for r in build_rules(cfg) if r.code in FEED_RULES])  # fmt: skip
    inputs = {n: c for c, n in renamed.items()}
    annotated = annotate(parse_columns(safe, sources, cfg), cfg, inputs,
                         renamed.get(CORRUPT_COLUMN), rules)  # fmt: skip
    return annotated.select(
        *[F.col(PARSED + c).alias(c) for c in FEED_COLUMNS], REASON, DETAIL,
        F.nullif(F.col(lc.FILE), F.lit("")).alias(lc.FILE),
        *[F.col(n).cast("string").alias(f"{RAW_PREFIX}{c}") for c, n in renamed.items()],
    )  # fmt: skip


def quarantine_rows(rows: DataFrame) -> DataFrame:
    """The ETL's quarantine layout: `raw_<input column>`, reason, reason_detail, source_file."""
    raw = [c for c in rows.columns if c.startswith(RAW_PREFIX)]
    return rows.select(*[F.col(quoted(c)) for c in raw], REASON, DETAIL,
                       F.col(lc.FILE).alias(SOURCE_FILE))  # fmt: skip


def run_labels(spark: SparkSession, config: AppConfig, inputs: list[str]) -> LabelsResult:
    """Apply the label feed `inputs` (files or folders) to the canonical table; the
    quarantine and the lock are the ETL's (etl.output / etl.quarantine, paths.root)."""
    ensure_utc(spark)
    check_working_directory(spark, config.paths.root)
    with RootLock(config.paths.root, "labels"):
        refuse_while_read(config.paths.root, "labels", "canonical")
        return _run_locked(spark, config, inputs)


def _run_locked(spark: SparkSession, config: AppConfig, inputs: list[str]) -> LabelsResult:
    started, cfg, fs = time.monotonic(), config.etl, HadoopFs(spark)
    table, quarantine = (path.rstrip("/") for path in config.etl_tables())
    reads = {f"label feed {i + 1}": p for i, p in enumerate(inputs)}
    check_apart(spark, reads, {"etl.output": table, "etl.quarantine": quarantine})
    for path in inputs:
        if not fs.exists(path):
            raise EmptyInputError(
                f"label feed {path} does not exist; expected a CSV, Parquet or JSON file (or a "
                "folder of them) with columns transaction_id, label and optionally label_time"
            )
    feeds = [_read_feed(spark, p, cfg) for p in inputs]
    delay_only = all("label_time" not in feed_columns(raw.columns, cfg) for raw, _ in feeds)
    now = dt.datetime.now(dt.UTC)  # applied_at, and when a correction without label_time is known
    if delay_only:
        logger.info("label feed without label_time: filled labels keep label_time null "
                    "(known at timestamp + features.label_delay_days); a correction is "
                    "known at this run's time, %s", now.isoformat())  # fmt: skip
    for final in (table, quarantine):
        clean_stale_staging(fs, final)
    publish = AppendPublish(spark, table, quarantine, job="labels", report=REPORT,
                            compact_files=config.etl.compact_files)  # fmt: skip
    try:
        published = read_table(spark, table, "labels: canonical table", "etl")
        feed = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True),
                      [annotated for _, annotated in feeds])  # fmt: skip
        feed.write.mode("error").parquet(publish.stage_path)
        stage = spark.read.parquet(publish.stage_path)
        input_rows = stage.count()
        if input_rows == 0:
            raise EmptyInputError(f"label feed {', '.join(inputs)} holds no rows; expected "
                                  "at least one transaction_id with its label")  # fmt: skip
        with published_schema_errors(fs.qualify(table)):
            counts = _apply(spark, stage, published, publish, table, config, now)
        result = LabelsResult(
            input_paths=tuple(inputs), output_path=table, quarantine_path=quarantine,
            report_path=f"{table}/{REPORT}", input_rows=input_rows, delay_only=delay_only,
            seconds=round(time.monotonic() - started, 3), **counts,
        )  # fmt: skip
        check_accounting(result)
    except BaseException:
        publish.discard()
        raise
    finally:
        fs.delete(publish.stage_path)
    publish.commit(jsonout.dumps(result.to_dict(), indent=2))
    logger.info("%s", result.summary())
    return result


def _read_feed(spark: SparkSession, path: str, cfg: EtlSection) -> tuple[DataFrame, DataFrame]:
    raw, _ = read_input(spark, path, cfg)
    return raw, annotate_feed(raw, cfg, path)


@dataclass(frozen=True)
class _LabelsRun:
    """What every step of one labels run shares: the session, the config, the canonical
    table, its append publish (staging, swap, commit) and the run's time."""

    spark: SparkSession
    config: AppConfig
    table: str
    publish: AppendPublish
    now: dt.datetime


@dataclass(frozen=True)
class _Staged:
    """What `_stage` handed to the publish: the date partitions rewritten, the rows the
    rewrite added, the quarantine rows (per reason, with one detail each) and how many
    of them were staged (the others already quarantined), the ledger entries added."""

    dates: list[str]
    rows_added: int
    by_reason: dict[str, int]
    reason_examples: dict[str, str]
    quarantine_staged: int
    ledger_entries_added: int

    @property
    def quarantined(self) -> int:
        return sum(self.by_reason.values())


@dataclass(frozen=True)
class _Tally:
    """The classified feed rows per status (lc.FILL, SAME, DUP, CORRECT), those giving
    another label_time, and one of each in words."""

    by_status: dict[int, int]
    label_time_changed: int
    changed_example: str = ""
    correction_example: str = ""


def _apply(
    spark: SparkSession, stage: DataFrame, published: DataFrame, publish: AppendPublish,
    table: str, config: AppConfig, now: dt.datetime,
) -> dict:  # fmt: skip
    """Classify the clean rows, stage the rewritten partitions, the quarantine rows not
    quarantined before and the ledger entries through `publish`; return the counts, the
    filled and corrected ones measured from the staged files."""
    run = _LabelsRun(spark, config, table, publish, now)
    classified = _classify(run, stage, published)
    try:
        tally = _tally(classified)
        staged = _stage(run, stage, classified)
        tally = _with_examples(tally, classified)
    finally:
        classified.unpersist()
    filled = _labelled(spark, publish.swap.new, staged.dates) - _labelled(
        spark, publish.table, staged.dates)  # fmt: skip
    corrected = _relabelled(spark, publish.swap.new, publish.table, staged.dates)
    _check_staged(table, staged, tally, filled, corrected)
    if tally.label_time_changed:
        logger.warning(
            "labels: %d feed row(s) give the published label with another label_time (e.g. "
            "%s); the published label_time is kept: a label's time is never overwritten "
            "(counted as unchanged, `label_time_changed` in %s)", tally.label_time_changed,
            tally.changed_example, REPORT,
        )  # fmt: skip
    return _counts(run, staged, tally, filled, corrected)


def _classify(run: _LabelsRun, stage: DataFrame, published: DataFrame) -> DataFrame:
    """The clean feed rows classified against the published ones (persisted: the caller
    unpersists)."""
    keys = published.select("transaction_id", "label", "label_time", "timestamp",
                            F.col(PARTITION_COLUMN).cast("string").alias(PARTITION_COLUMN))  # fmt: skip
    clean = stage.filter(F.col(REASON).isNull()).drop(REASON, DETAIL)
    return lc.classify(
        clean, keys, run.table, corrections=run.config.etl.label_corrections,
        delay_days=run.config.features.label_delay_days, now=run.now,
    ).persist(StorageLevel.MEMORY_AND_DISK)  # fmt: skip


def _tally(classified: DataFrame) -> _Tally:
    counted = classified.groupBy(lc.STATUS, lc.LT_CHANGED).count().collect()
    by_status = {s: sum(r[2] for r in counted if r[0] == s)
                 for s in (lc.FILL, lc.SAME, lc.DUP, lc.CORRECT)}  # fmt: skip
    return _Tally(by_status, sum(r[2] for r in counted if r[1]))


def _with_examples(tally: _Tally, classified: DataFrame) -> _Tally:
    return replace(
        tally,
        changed_example=_changed_example(classified) if tally.label_time_changed else "",
        correction_example=(lc.correction_example(classified)
                            if tally.by_status[lc.CORRECT] else ""),
    )  # fmt: skip


def _stage(run: _LabelsRun, stage: DataFrame, classified: DataFrame) -> _Staged:
    """Stage the rewritten partitions and the quarantine rows not quarantined before,
    then the ledger entries (when a partition is rewritten), through `run.publish`."""
    publish = run.publish
    fills, dates, kept = _filled_rows(run.spark, classified, publish.table)
    schema = run.spark.createDataFrame([], CANONICAL_DDL).schema
    rows = quarantine_rows(stage.filter(F.col(REASON).isNotNull())).unionByName(
        quarantine_rows(classified.filter(F.col(REASON).isNotNull())))  # fmt: skip
    by_reason_rows = rows.groupBy(REASON).agg(F.count(F.lit(1)), F.min(DETAIL)).collect()
    ids = fills.select("transaction_id") if dates else None
    new_rows = not_yet_quarantined(run.spark, publish.fs, rows, publish.quarantine)
    n_out, written = publish.write(kept, new_rows, schema, ids)
    n_written = written.count()
    added = _stage_ledger(run, classified) if dates else 0
    by_reason_rows = sorted(by_reason_rows, key=lambda r: str(r[0]))
    return _Staged(
        dates=dates, rows_added=n_out, by_reason={str(r[0]): r[1] for r in by_reason_rows},
        reason_examples={str(r[0]): r[2] for r in by_reason_rows},
        quarantine_staged=n_written, ledger_entries_added=added,
    )  # fmt: skip


def _stage_ledger(run: _LabelsRun, classified: DataFrame) -> int:
    """Stage the ledger entries of the fills and corrections not recorded yet; how many."""
    fixed = F.col(lc.STATUS) == lc.CORRECT
    entries = classified.filter(F.col(lc.STATUS).isin(lc.FILL, lc.CORRECT)).select(
        "transaction_id", "label",
        F.when(fixed, F.col(lc.KNOWN)).otherwise(F.col("label_time")).alias("label_time"),
        F.col(lc.FILE).alias("source_file"),
        F.when(fixed, F.lit(KIND_CORRECTION)).otherwise(F.lit(KIND_FILL)).alias("kind"),
        F.col(lc.PUB["label"]).alias("previous_label"),
        F.col(lc.PUB["label_time"]).alias("previous_label_time"),
    )  # fmt: skip
    publish = run.publish
    ledger = read_ledger(run.spark, publish.fs, run.table)
    return publish.stage_extra(new_entries(entries, ledger, publish.swap.job, run.now),
                               ledger_path(run.table), earlier=ledger)  # fmt: skip


def _check_staged(table: str, staged: _Staged, tally: _Tally, filled: int, corrected: int) -> None:
    """The staged files hold what the classification says, or DataIntegrityError.

    previous_rows is 0 here: rows_added is the rows the rewrite added (none may be), and
    the labels the rewritten files gained are the fills classified, the labels they
    changed the corrections (no other row changed)."""
    to_fill, to_correct = tally.by_status[lc.FILL], tally.by_status[lc.CORRECT]
    n_out, n_written, quarantined = staged.rows_added, staged.quarantine_staged, staged.quarantined
    if (n_out != 0 or filled != to_fill or corrected != to_correct
            or n_written > quarantined):  # fmt: skip
        raise DataIntegrityError(
            f"labels: the rewritten partitions of {table} hold {n_out} rows more than before, "
            f"{filled} more labels and {corrected} changed ones, for {to_fill} labels "
            f"to fill and {to_correct} to correct, and {n_written} quarantine rows "
            f"were staged for {quarantined}; expected no row added, one label per "
            "fill, one change per correction and no more quarantine rows than quarantined. "
            "Nothing was published; please report this with the feed"
        )


def _counts(run: _LabelsRun, staged: _Staged, tally: _Tally, filled: int, corrected: int) -> dict:
    """The LabelsResult fields `_apply` measured."""
    return {
        "labels_filled": filled, "labels_unchanged": tally.by_status[lc.SAME],
        "labels_corrected": corrected, "label_correction_example": tally.correction_example,
        "label_corrections": run.config.etl.label_corrections,
        "duplicate_rows": tally.by_status[lc.DUP], "quarantine_rows": staged.quarantined,
        "quarantine_by_reason": staged.by_reason,
        "quarantine_examples": staged.reason_examples,
        "partitions_rewritten": tuple(run.publish.swap.written_dates()),
        "already_quarantined": staged.quarantined - staged.quarantine_staged,
        "label_time_changed": tally.label_time_changed,
        "label_time_changed_example": tally.changed_example,
        "ledger_entries_added": staged.ledger_entries_added,
    }  # fmt: skip


def _changed_example(classified: DataFrame) -> str:
    row = (classified.filter(F.col(lc.LT_CHANGED)).orderBy("transaction_id")
           .select("transaction_id", "label_time", lc.PUB["label_time"]).first())  # fmt: skip
    published = "none (null)" if row[2] is None else f"'{row[2]}'"
    return f"transaction_id '{row[0]}': published label_time {published}, this feed '{row[1]}'"


def not_yet_quarantined(
    spark: SparkSession, fs: HadoopFs, rows: DataFrame, quarantine: str
) -> DataFrame:  # fmt: skip
    """The quarantine `rows` of this feed that the quarantine does not hold yet: a row
    whose `raw_` values and reason equal a quarantined row's (its other `raw_` columns
    null: a row of a feed with these columns, not an ETL record) is there from an earlier
    run of this feed. Compared null-safely, without the detail and the source file."""
    if not fs.exists(quarantine) or not fs.list_paths(quarantine):
        return rows
    held = spark.read.parquet(quarantine)
    have = {c.lower(): c for c in held.columns}
    raw = [c for c in rows.columns if c.startswith(RAW_PREFIX)]
    if any(c.lower() not in have for c in raw) or REASON not in have:
        return rows  # a column the quarantine lacks: no row there can be equal
    others = [c for c in held.columns
              if c.startswith(RAW_PREFIX) and c.lower() not in {r.lower() for r in raw}]  # fmt: skip
    held = held.filter(reduce(lambda a, b: a & b, [F.col(quoted(c)).isNull() for c in others],
                              F.lit(True)))  # fmt: skip
    keys = held.select(*[F.col(quoted(have[c.lower()])).cast("string").alias(f"__k{i}")
                         for i, c in enumerate(raw)], F.col(REASON).alias("__kr")).distinct()  # fmt: skip
    same = [F.col(quoted(c)).eqNullSafe(F.col(f"__k{i}")) for i, c in enumerate(raw)]
    return rows.join(keys, reduce(lambda a, b: a & b, same, F.col(REASON) == F.col("__kr")),
                     "left_anti")  # fmt: skip


def _filled_rows(spark: SparkSession, classified: DataFrame, table: str):
    """(the ids to fill or correct with their label, label_time and date; those dates; the
    published rows of those ids with the label and label_time set: a fill's, a correction's
    label and known time)."""
    fixed = F.col(lc.STATUS) == lc.CORRECT
    fills = classified.filter(F.col(lc.STATUS).isin(lc.FILL, lc.CORRECT)).select(
        "transaction_id", F.col("label").alias("__label"),
        F.when(fixed, F.col(lc.KNOWN)).otherwise(F.col("label_time")).alias("__label_time"),
        F.col(lc.PUB[PARTITION_COLUMN]).alias("__d"),
    )  # fmt: skip
    dates = sorted(r[0] for r in fills.select("__d").distinct().collect())
    kept = _partitions(spark, table, dates).join(fills, "transaction_id")
    kept = kept.withColumns({"label": F.col("__label"), "label_time": F.col("__label_time")})
    return fills, dates, kept.select(*CANONICAL_NAMES)


def _partitions(spark: SparkSession, table: str, dates: list[str]) -> DataFrame:
    if not dates:
        return spark.createDataFrame([], CANONICAL_DDL)
    paths = [f"{table}/{partition_name(d)}" for d in dates]
    return spark.read.schema(CANONICAL_DDL).parquet(*paths).select(*CANONICAL_NAMES)


def _labelled(spark: SparkSession, table: str, dates: list[str]) -> int:
    """Rows with a label in the `dates` partitions of `table` (staged or published)."""
    return _partitions(spark, table, dates).filter(F.col("label").isNotNull()).count()


def _relabelled(spark: SparkSession, staged: str, table: str, dates: list[str]) -> int:
    """Rows of the `dates` partitions whose published label the staged ones changed."""
    if not dates:
        return 0
    old = _partitions(spark, table, dates).filter(F.col("label").isNotNull())
    new = _partitions(spark, staged, dates).select("transaction_id", F.col("label").alias("__n"))
    joined = old.select("transaction_id", "label").join(new, "transaction_id", "left")
    return joined.filter(~F.col("label").eqNullSafe(F.col("__n"))).count()


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
