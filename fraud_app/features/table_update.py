"""The incremental build of the feature table: the dates from d0 on, swapped in place.

fraud_app.features.incremental decides that the table may be updated and from which
date (d0). Here: the features of the rows dated >= d0 computed from the canonical rows
from d0 minus the history the specs read (fraud_app.scoring.history: the lookback; the
categorical encodings and the whole-table checks always read every row), written under
`<table>/_staging/features-<token>/new` and swapped in date by date
(fraud_app.etl.partition_swap, as `etl --mode append` does); dates >= d0 that the result
no longer holds are taken out. Then `_features.json` (the whole table's row count, the
input's state, the timeline: the same figures a full build writes) and `_files.json`
(fraud_app.etl.manifest.update: those dates' files).

A run killed before its swaps leaves the previous table as it was (its staging is under
`_`, which readers skip; the next run removes it). One killed inside them (a SIGKILL: a
SIGTERM waits, fraud_app.interrupts) leaves its marker: readers refuse the half-updated
table (fraud_app.etl.table_read.read_table) and the next `features` recovers and rebuilds it whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.etl.fs import HadoopFs, partition_dates
from fraud_app.etl.manifest import FooterCache, footer_rows
from fraud_app.etl.manifest import update as update_files
from fraud_app.etl.partition_swap import PartitionSwap, partition_name
from fraud_app.features.compile import FeatureResult, compute_features
from fraud_app.features.incremental import KEY, Plan
from fraud_app.features.profile import DataProfile
from fraud_app.features.source_state import source_state
from fraud_app.features.spec import FeatureSet
from fraud_app.features.table import (
    METADATA_NAME,
    FeatureTableSummary,
    _time_ordered,
    feature_metadata,
    written_rows,
)
from fraud_app.interrupts import critical
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.dates import date_literal
from fraud_app.scoring.history import history_rows, history_seconds

logger = logging.getLogger(__name__)


def recompute(
    df: DataFrame, feature_set: FeatureSet, plan: Plan, vector_column: str | None,
    profile: DataProfile | None = None,
) -> FeatureResult:  # fmt: skip
    """The features of the rows dated >= plan.start (none when it is None: then only the
    names and the skipping rules), from the history they need; the skipping rules
    (all-null inputs, lags beyond the data) judged on the whole table (`profile`: its
    profile already counted, compute_features')."""
    start = plan.start
    history_s = history_seconds(feature_set, encodings=False)
    if start is None:
        rows = df.where(F.lit(False))
    else:
        rows = history_rows(df, start, dt.date.max, history_s)  # every date from start on
    result = compute_features(
        rows, feature_set, vector_column=vector_column, whole_history=df, profile=profile
    )
    dates = F.col(PARTITION_COLUMN) >= date_literal(start or dt.date.max)
    return FeatureResult(
        df=result.df.where(dates),
        feature_names=result.feature_names,
        skipped=result.skipped,
        vector_column=result.vector_column,
        label_delay_s=result.label_delay_s,
    )


def same_features(result: FeatureResult, previous: dict[str, Any]) -> str:
    """Empty when `result` computes the features the table holds; else what differs (then
    the whole table needs rebuilding: the other dates lack a column, or hold a constant)."""
    skipped = [s.to_dict() for s in result.skipped]
    if list(result.feature_names) != previous.get("feature_names"):
        return (
            "the features computed changed (an input column is no longer, or now, null in "
            "every row, or a lag now fits the data)"
        )
    if skipped != previous.get("skipped"):
        return "the skipped features' reasons changed"
    return ""


def update_feature_table(
    spark: SparkSession, result: FeatureResult, feature_set: FeatureSet, path: str,
    plan: Plan, meta_extra: dict[str, Any], patch: DataFrame | None = None,
    footers: FooterCache | None = None,
) -> FeatureTableSummary:  # fmt: skip
    """Swap the dates of `result` (rows dated >= plan.start) and of `patch` (the rows of
    plan.patched with their new labels) into the table at `path`, remove its other dates
    >= plan.start, rewrite its metadata (`meta_extra`: source, timeline and the
    incremental record, as the full build writes them). `footers`: the run's footer
    reads (the plan's `_files.json` check read the kept dates' footers: not read again)."""
    started = time.monotonic()
    fs = HadoopFs(spark)
    target = path.rstrip("/")
    swap = PartitionSwap(fs, target, f"features-{uuid.uuid4().hex[:12]}")
    swap.recover()  # a killed run's staging (under the root lock: every one is dead)
    start = plan.start.isoformat() if plan.start else None
    try:
        dates, new_rows = _stage(spark, result, plan, patch, swap)
        existing = sorted(partition_dates(fs, target))
        drop = [d for d in existing if start and d >= start and d not in dates]
        kept = [d for d in existing if d not in dates and d not in drop]
        old_rows = _kept_rows(spark, fs, target, plan, existing, footers) if kept else 0
    except BaseException:
        swap.cleanup()
        raise
    meta = {**feature_metadata(result, feature_set), "rows": old_rows + new_rows}
    meta.update({k: v for k, v in meta_extra.items() if k != KEY})
    with critical():  # killed from here on (SIGKILL): readers refuse, the next run rebuilds
        swap.mark_committing([*dates, *drop])
        for day in dates:
            swap.swap(day)
        for day in drop:
            swap.remove(day)
        own = source_state(fs, target)
        meta["data_files"] = {"files": own["files"], "digest": own["digest"]}
        meta[KEY] = meta_extra[KEY]
        fs.write_text(f"{target}/{METADATA_NAME}", jsonout.dumps(meta, indent=2))
        update_files(fs, target, [partition_name(d) for d in (*dates, *drop)], (METADATA_NAME,))
        swap.clear_committing()
    swap.cleanup()
    summary = FeatureTableSummary(
        output_path=target,
        metadata_path=f"{target}/{METADATA_NAME}",
        rows=meta["rows"],
        feature_names=result.feature_names,
        skipped=tuple(s.to_dict() for s in result.skipped),
        seconds=round(time.monotonic() - started, 3),
        extra={"timeline": meta_extra["timeline"]} if "timeline" in meta_extra else {},
    )
    logger.info(
        "feature table %s: %d rows, %d features (%d skipped); %d date(s) rewritten (%s: "
        "from %s, and %d with new labels only), %d removed%s, %d kept as they were, %.1f s",
        target, summary.rows, len(result.feature_names), len(result.skipped), len(dates),
        _dates(dates), start or "none", len(plan.patched), len(drop),
        f" ({_dates(drop)})" if drop else "", len(kept), summary.seconds,
    )  # fmt: skip
    return summary


def _stage(spark, result: FeatureResult, plan: Plan, patch: DataFrame | None, swap):
    """Write the recomputed and the patched rows under the swap's `new`: (their dates, rows)."""
    parts = ([result.df] if plan.start else []) + ([patch] if patch is not None else [])
    if not parts:
        return [], 0
    rows = reduce(lambda a, b: a.unionByName(b), parts).select(*result.df.columns)
    _time_ordered(rows).write.mode("error").partitionBy(PARTITION_COLUMN).parquet(swap.new)
    dates = swap.written_dates()
    return dates, (written_rows(spark, swap.fs, swap.new) if dates else 0)


def _kept_rows(
    spark, fs: HadoopFs, target: str, plan: Plan, existing: list[str],
    footers: FooterCache | None = None,
) -> int:  # fmt: skip
    """The rows of the table's dates that the update leaves as they are (`_kept`), from
    their files' Parquet footers (no Spark job: a filtered count was three); with Spark
    when a folder's date or a footer does not parse."""
    try:
        days = {d: dt.date.fromisoformat(d) for d in existing}
        patched = {dt.date.fromisoformat(d) for d in plan.patched}
    except ValueError:
        days = None
    if days is not None:
        names = [partition_name(d) for d, day in days.items()
                 if (not plan.start or day < plan.start) and day not in patched]  # fmt: skip
        rows = footer_rows(fs, target, names, footers)
        if rows is not None:
            return rows
    return spark.read.parquet(target).where(_kept(plan)).count()


def _kept(plan: Plan):
    """The rows of the table's dates that the update leaves as they are."""
    keep = F.lit(True)
    if plan.start:
        keep = F.col(PARTITION_COLUMN) < date_literal(plan.start)
    if plan.patched:
        keep = keep & ~F.col(PARTITION_COLUMN).isin(*[F.lit(d).cast("date") for d in plan.patched])
    return keep


def unchanged_summary(path: str, previous: dict[str, Any], timeline: Any) -> FeatureTableSummary:
    """The table as it is: no canonical date changed since it was built."""
    target = path.rstrip("/")
    logger.info(
        "feature table %s: up to date (no canonical date changed since it was built): "
        "nothing recomputed", target,
    )  # fmt: skip
    return FeatureTableSummary(
        output_path=target,
        metadata_path=f"{target}/{METADATA_NAME}",
        rows=int(previous.get("rows", 0)),
        feature_names=tuple(previous["feature_names"]),
        skipped=tuple(previous.get("skipped", ())),
        extra={"timeline": timeline} if timeline is not None else {},
    )


def _dates(days: list[str], shown: int = 6) -> str:
    if len(days) <= shown:
        return ", ".join(days)
    return f"{', '.join(days[:3])}, ... {days[-1]}"
