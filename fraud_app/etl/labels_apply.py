"""Applying a classified label feed (fraud_app.etl.labels): the fills and corrections
staged as rewritten date partitions, the quarantine rows not quarantined before and the
ledger entries, all through the ETL's append publish; then the staged files measured
against the classification (DataIntegrityError when they differ).

Owns the staging and its counts; does not own reading or annotating the feed, the row
accounting, the commit or the lock (fraud_app.etl.labels), nor the classification
(fraud_app.etl.labels_classify).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app.card_masking import mask_pans
from fraud_app.config import AppConfig
from fraud_app.errors import DataIntegrityError
from fraud_app.etl import labels_classify as lc
from fraud_app.etl.append_publish import AppendPublish
from fraud_app.etl.ledger import KIND_CORRECTION, KIND_FILL, ledger_path, new_entries, read_ledger
from fraud_app.etl.partition_swap import partition_name
from fraud_app.etl.pipeline import CANONICAL_NAMES, RAW_PREFIX, SOURCE_FILE
from fraud_app.etl.reader import quoted
from fraud_app.etl.rules import DETAIL, REASON
from fraud_app.schema import CANONICAL_COLUMNS, PARTITION_COLUMN

# a step of run_labels: its log lines keep the run's logger name (filters, tests)
logger = logging.getLogger("fraud_app.etl.labels")

REPORT = "_labels_report.json"  # the labels run's report, inside the canonical table
CANONICAL_DDL = ", ".join(f"`{c.name}` {c.spark_type}" for c in CANONICAL_COLUMNS)


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
    another label_time, and one of each in words; the rows the classification quarantines
    per reason with their smallest detail; the published dates of the fills and
    corrections (`dates`) and the days of their timestamps (`days`: the staged
    partitions'). One aggregation of the classification (session 43: the by-reason
    group-by, the dates' distinct, the examples' and the write's dates were more jobs)."""

    by_status: dict[int, int]
    label_time_changed: int
    changed_example: str = ""
    correction_example: str = ""
    by_reason: dict[str, int] = field(default_factory=dict)
    reason_details: dict[str, str | None] = field(default_factory=dict)
    dates: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)


def apply_feed(
    spark: SparkSession, stage: DataFrame, published: DataFrame, publish: AppendPublish,
    table: str, config: AppConfig, now: dt.datetime, rejected: tuple[dict, dict],
) -> dict:  # fmt: skip
    """Classify the clean rows, stage the rewritten partitions, the quarantine rows not
    quarantined before and the ledger entries through `publish`; return the counts, the
    filled and corrected ones measured from the staged files. `rejected`: the staged
    rows a per-row rule quarantined, per reason, and each reason's smallest detail
    (fraud_app.etl.labels._stage_feeds)."""
    run = _LabelsRun(spark, config, table, publish, now)
    classified = _classify(run, stage, published)
    try:
        tally = _tally(classified)
        staged = _stage(run, stage, classified, tally, rejected)
    finally:
        classified.unpersist()
    staged_labels, published_labels, corrected = _measured(
        spark, publish.swap.new, publish.table, staged.dates
    )
    filled = staged_labels - published_labels
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
    fixing = F.col(lc.STATUS).isin(lc.FILL, lc.CORRECT)
    changed = F.struct("transaction_id", "label_time", lc.PUB["label_time"])
    counted = classified.groupBy(lc.STATUS, lc.LT_CHANGED, REASON).agg(
        F.count(F.lit(1)).alias("rows"), F.min(DETAIL).alias("detail"),
        F.collect_set(F.when(fixing, F.col(lc.PUB[PARTITION_COLUMN]))).alias("dates"),
        F.collect_set(F.when(fixing, F.to_date(lc.PUB["timestamp"]).cast("string"))).alias("days"),
        F.min(F.when(F.col(lc.LT_CHANGED), changed)).alias("changed"),
        lc.correction_example().alias("correction"),
    ).collect()  # fmt: skip
    by_status = {s: sum(r["rows"] for r in counted if r[lc.STATUS] == s)
                 for s in (lc.FILL, lc.SAME, lc.DUP, lc.CORRECT)}  # fmt: skip
    reasons = sorted({r[REASON] for r in counted if r[REASON] is not None})
    return _Tally(
        by_status, sum(r["rows"] for r in counted if r[lc.LT_CHANGED]),
        changed_example=_changed_example(_least(r["changed"] for r in counted)),
        correction_example=lc.describe_correction(_least(r["correction"] for r in counted)),
        by_reason={c: sum(r["rows"] for r in counted if r[REASON] == c) for c in reasons},
        reason_details={c: _least(r["detail"] for r in counted if r[REASON] == c)
                        for c in reasons},
        dates=sorted({d for r in counted for d in r["dates"]}),
        days=sorted({d for r in counted for d in r["days"]}),
    )  # fmt: skip


def _least(values):
    """The smallest of `values` that is not None (as Spark's min: nulls ignored), or None."""
    return min((v for v in values if v is not None), default=None)


def _stage(run: _LabelsRun, stage: DataFrame, classified: DataFrame, tally: _Tally,
           rejected: tuple[dict, dict]) -> _Staged:  # fmt: skip
    """Stage the rewritten partitions and the quarantine rows not quarantined before,
    then the ledger entries (when a partition is rewritten), through `run.publish`. The
    quarantine rows per reason: the staged feed's `rejected` and the classification's
    (`tally`), with the smallest detail of both (was a group-by of their union)."""
    publish = run.publish
    fills, dates, kept = _filled_rows(run.spark, classified, publish.table, tally.dates)
    schema = run.spark.createDataFrame([], CANONICAL_DDL).schema
    rows = quarantine_rows(stage.filter(F.col(REASON).isNotNull())).unionByName(
        quarantine_rows(classified.filter(F.col(REASON).isNotNull())))  # fmt: skip
    by_reason, details = _merged(rejected, (tally.by_reason, tally.reason_details))
    ids = fills.select("transaction_id") if dates else None
    new_rows = not_yet_quarantined(rows, publish.quarantine_stage.held())
    n_out, _ = publish.write(kept, new_rows, schema, ids, tally.days)
    n_written = publish.quarantine_staged  # the file `write` staged, counted there
    added = _stage_ledger(run, classified) if dates else 0
    codes = sorted(by_reason, key=str)
    return _Staged(
        dates=dates, rows_added=n_out, by_reason={str(c): by_reason[c] for c in codes},
        reason_examples={str(c): mask_pans(details[c] or "") for c in codes},
        quarantine_staged=n_written, ledger_entries_added=added,
    )  # fmt: skip


def _merged(*parts: tuple[dict, dict]) -> tuple[dict, dict]:
    """({reason: rows}, {reason: smallest detail}) of the quarantine rows counted in parts."""
    counts: dict = {}
    for part, _ in parts:
        for code, n in part.items():
            counts[code] = counts.get(code, 0) + n
    return counts, {c: _least(d.get(c) for _, d in parts) for c in counts}


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


def _changed_example(row) -> str:
    """The unchanged row giving another label_time of the smallest transaction_id (its
    id, the feed's label_time, the published one) in words ("" when there is none)."""
    if row is None:
        return ""
    published = "none (null)" if row[2] is None else f"'{row[2]}'"
    return f"transaction_id '{row[0]}': published label_time {published}, this feed '{row[1]}'"


def not_yet_quarantined(rows: DataFrame, held: DataFrame | None) -> DataFrame:
    """The quarantine `rows` of this feed that the quarantine (`held`: its rows, None
    when it holds no file: fraud_app.etl.append_quarantine.AppendQuarantine.held) does not
    hold yet: a row whose `raw_` values and reason equal a quarantined row's (its other
    `raw_` columns null: a row of a feed with these columns, not an ETL record) is there
    from an earlier run of this feed. Compared null-safely, without the detail and the
    source file."""
    if held is None:
        return rows
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


def _filled_rows(spark: SparkSession, classified: DataFrame, table: str, dates: list[str]):
    """(the ids to fill or correct with their label, label_time and date; their `dates`
    (_tally's); the published rows of those ids with the label and label_time set: a
    fill's, a correction's label and known time)."""
    fixed = F.col(lc.STATUS) == lc.CORRECT
    fills = classified.filter(F.col(lc.STATUS).isin(lc.FILL, lc.CORRECT)).select(
        "transaction_id", F.col("label").alias("__label"),
        F.when(fixed, F.col(lc.KNOWN)).otherwise(F.col("label_time")).alias("__label_time"),
        F.col(lc.PUB[PARTITION_COLUMN]).alias("__d"),
    )  # fmt: skip
    kept = _partitions(spark, table, dates).join(fills, "transaction_id")
    kept = kept.withColumns({"label": F.col("__label"), "label_time": F.col("__label_time")})
    return fills, dates, kept.select(*CANONICAL_NAMES)


def _partitions(spark: SparkSession, table: str, dates: list[str]) -> DataFrame:
    if not dates:
        return spark.createDataFrame([], CANONICAL_DDL)
    paths = [f"{table}/{partition_name(d)}" for d in dates]
    return spark.read.schema(CANONICAL_DDL).parquet(*paths).select(*CANONICAL_NAMES)


def _measured(spark: SparkSession, staged: str, table: str, dates: list[str]) -> tuple[int, ...]:
    """(rows with a label in the `dates` partitions of `staged`, of `table`; rows of those
    `table` partitions whose label the staged ones changed: each published labelled row
    against every staged row of its id, none = changed, as a left join of them counted),
    in one pass: the rows of both grouped by transaction_id (a null id matches no row, as
    in the join). Two counts and a join were 5 Spark jobs (session 44)."""
    if not dates:
        return 0, 0, 0
    side, label = F.col("__staged"), F.col("label")
    both = _partitions(spark, staged, dates).select("transaction_id", "label", F.lit(True).alias(
        "__staged")).unionByName(_partitions(spark, table, dates).select(
        "transaction_id", "label", F.lit(False).alias("__staged")))  # fmt: skip
    per_id = both.groupBy("transaction_id").agg(
        F.count(F.when(side & label.isNotNull(), 1)).alias("new_labels"),
        F.count(F.when(~side & label.isNotNull(), 1)).alias("old_labels"),
        F.collect_list(F.when(~side, label)).alias("old"),  # collect_list drops the nulls
        F.collect_list(F.when(side, F.struct(label.alias("l")))).alias("new"),  # keeps them
    )
    each = F.aggregate("old", F.lit(0).cast("long"), lambda n, old: n + F.size(
        F.filter("new", lambda new: ~new["l"].eqNullSafe(old))))  # fmt: skip
    unmatched = F.col("transaction_id").isNull() | (F.size("new") == 0)
    changed = F.when(unmatched, F.size("old")).otherwise(each)
    row = per_id.agg(F.sum("new_labels"), F.sum("old_labels"), F.sum(changed)).first()
    return tuple(int(v or 0) for v in row)


def quarantine_rows(rows: DataFrame) -> DataFrame:
    """The ETL's quarantine layout: `raw_<input column>`, reason, reason_detail, source_file."""
    raw = [c for c in rows.columns if c.startswith(RAW_PREFIX)]
    return rows.select(*[F.col(quoted(c)) for c in raw], REASON, DETAIL,
                       F.col(lc.FILE).alias(SOURCE_FILE))  # fmt: skip
