"""The batch scoring job (`fraud-app score`): transactions of some dates -> scores partitions.

canonical rows (dates + the history the specs need) -> point-in-time features (the
feature table's own code) -> the model's feature check -> scores on executors in Arrow
batches (score, alert, top reasons) -> `<output>/event_date=...` swapped in per date ->
summary JSON (contract C3) at `<paths.reports>/scoring-<job_id>.json`.
Owns the order of those steps; each lives in its own module of fraud_app.scoring (the
summary's record after the per-date summaries, and where it goes: fraud_app.scoring.job_record,
whose `warn_out_of_range` is re-exported here).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from pyspark.sql import functions as F

from fraud_app.errors import ConfigError, EmptyInputError, ModelLoadError
from fraud_app.etl.fs import HadoopFs, check_apart, check_working_directory
from fraud_app.etl.manifest import FooterCache
from fraud_app.etl.manifest import update as update_files
from fraud_app.etl.partition_swap import PartitionSwap, partition_name
from fraud_app.etl.readers import reads
from fraud_app.etl.table_read import read_table
from fraud_app.features.compile import vector_sql
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.naming import check_name, utc_stamp
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring import input_fill
from fraud_app.scoring.batch import ScoringOptions, score_dataframe
from fraud_app.scoring.dates import as_date, date_literal
from fraud_app.scoring.history import features_for_dates, history_timeline, warn_history
from fraud_app.scoring.input_fill import emptied_inputs, fill_counts, judged_columns, warn_emptied
from fraud_app.scoring.job_record import data_files, job_record, log_to_tracking, save_summary
from fraud_app.scoring.job_record import warn_out_of_range as warn_out_of_range
from fraud_app.scoring.model_source import (
    ScoringModel,
    check_feature_names,
    check_specs,
    load_scoring_model,
)
from fraud_app.scoring.partitions import output_lock
from fraud_app.scoring.reference import training_range, warn_other_budget
from fraud_app.scoring.summary import date_summaries, job_summary
from fraud_app.scoring.table_source import table_rows
from fraud_app.scoring.tasks import task_errors
from fraud_app.spark.connect import FILE_SYSTEM, classic_only
from fraud_app.spark.session import ensure_utc

logger = logging.getLogger(__name__)

ID_COLUMNS = ("transaction_id", "card_id", "timestamp")


@dataclass(frozen=True)
class ScoringJobResult:
    job_id: str
    summary_path: str
    partitions: tuple[str, ...]
    summary: dict[str, Any]


def new_job_id() -> str:
    return f"{utc_stamp()}-{uuid.uuid4().hex[:6]}"


def check_range(start: dt.date, end: dt.date) -> None:
    """ConfigError when the inclusive range start..end is empty."""
    if end < start:
        raise ConfigError(
            f"empty date range: end {end} is before start {start}. Give --date D, or "
            "--start S --end E with E >= S (both inclusive)"
        )


def _check_output(spark, config, output: str, setting: str) -> None:
    """Before the model loads: the scores folder must not be (or overlap) a data table."""
    check_apart(
        spark,
        {
            "the canonical table": config.canonical_table(),
            "the feature table": config.feature_table(),
        },
        {setting: output},
    )


def _canonical(spark, config, start: dt.date, end: dt.date, footers: FooterCache):
    path = config.canonical_table()
    df = read_table(spark, path, "canonical table", "etl", footers=footers)
    day = F.col(PARTITION_COLUMN)
    counted = input_fill.footer_day_rows(HadoopFs(spark), path, start, end, footers)  # no job
    if not counted and not (
        df.where(day.between(date_literal(start), date_literal(end))).select(day).limit(1).collect()
    ):
        span = df.agg(F.min(day), F.max(day)).first()
        raise EmptyInputError(_no_rows_in_range(path, start, end, span[0], span[1]))
    return df


def _no_rows_in_range(path: str, start: dt.date, end: dt.date, first, last) -> str:
    """The refusal of a range without transactions: outside the table's dates, or a gap
    inside them (there "pick dates inside that range" named dates that were inside it)."""
    what = f"no transactions dated {start}..{end} in the canonical table {path}"
    if first is None:
        return f"{what} (it holds none): run `fraud-app etl` first"
    if first <= start and end <= last:
        return (
            f"{what}: it holds {first}..{last}, with no rows on these dates (a gap in the "
            "deliveries); run `fraud-app etl --mode append` on their files, or pick other dates"
        )
    return (
        f"{what} (it holds {first}..{last}): pick dates inside that range, or run "
        "`fraud-app etl` on new files"
    )


def _options(model: ScoringModel, config) -> ScoringOptions:
    meta = model.ensemble.metadata.get("scoring")
    if not isinstance(meta, dict) or "threshold" not in meta:
        raise ModelLoadError(
            f"model {model.uri} has no scoring metadata (metadata.scoring: threshold, feature "
            "means, reference), which `score` needs: retrain it with this version of fraud-app"
        )
    warn_other_budget(meta, config.scoring.alert_budget, model.uri)
    return ScoringOptions(
        nonfinite=config.scoring.nonfinite,
        threshold=float(meta["threshold"]),
        reasons=config.scoring.reasons,
    )


@dataclass(frozen=True)
class _Job:
    """One scoring job: the dates start..end (inclusive) scored with `model` (`opts`: its
    threshold, non-finite handling and reasons) into the scores table at `output`."""

    job_id: str
    model: ScoringModel
    opts: ScoringOptions
    start: dt.date
    end: dt.date
    output: str


@dataclass(frozen=True)
class _Inputs:
    """What a job read besides the features: the history its window features need and the
    optional inputs emptied on its dates (both named in the summary)."""

    history: Any  # fraud_app.scoring.history.history_timeline's (None: complete)
    emptied: list  # fraud_app.scoring.input_fill.emptied_inputs'


def _scored_frame(spark, config, job: _Job, footers: FooterCache):
    """(scored rows, the table source, the job's inputs); `footers`: the run's Parquet
    footers, read once for the `_files.json` checks, input_fill and provenance."""
    feature_set = feature_set_from_config(config.features)
    names = job.model.ensemble.feature_names
    check_specs(job.model, feature_set)  # fail before reading any data
    canonical = _canonical(spark, config, job.start, job.end, footers)  # fails first: no rows
    inputs = _inputs(spark, config, job, canonical, feature_set, footers)
    table = table_rows(spark, config, feature_set, names, job.start, job.end, footers)
    try:
        df = _features(table, canonical, feature_set, job)
        vector = vector_sql(names).alias("features")
        ids = [c for c in ID_COLUMNS if c in df.columns]
        rows = df.select(*ids, PARTITION_COLUMN, vector)
        return score_dataframe(rows, job.model.ensemble, options=job.opts), table, inputs
    except BaseException:
        table.close()  # the caller never gets it to close
        raise


def _inputs(spark, config, job: _Job, canonical, feature_set, footers: FooterCache) -> _Inputs:
    """The history and emptied-input checks of the job's dates, each with its WARNING."""
    start, end = job.start, job.end
    fs, path = HadoopFs(spark), config.canonical_table()
    history = history_timeline(
        canonical, feature_set, start, end, config.validation.canonical.min_day_volume_ratio,
        lambda first, last: input_fill.footer_day_rows(fs, path, first, last, footers),
    )  # fmt: skip
    warn_history("score", start, end, history)
    judged = judged_columns(feature_set, job.model.ensemble.feature_names)
    counts = fill_counts(spark, path, canonical, list(judged), start, end, footers)
    emptied = emptied_inputs(counts, judged, start)
    warn_emptied("score", start, end, emptied, config.etl.source_for)
    return _Inputs(history, emptied)


def _features(table, canonical, feature_set, job: _Job):
    """The job's feature rows: the feature table's when it is current, else computed from
    the canonical rows (the log says which, and why)."""
    start, end = job.start, job.end
    if table.df is not None:
        logger.info("score %s..%s: features read from the feature table (current)", start, end)
        return table.df
    logger.info("score %s..%s: features computed: not read from the feature table, as %s",
                start, end, table.why)  # fmt: skip
    result = features_for_dates(canonical, feature_set, start, end)
    skipped = {s.name: s.reason for s in result.skipped}
    # the specs may compute more than the model reads (as the table may hold more)
    names = job.model.ensemble.feature_names
    check_feature_names(names, list(result.feature_names), skipped=skipped, extra_ok=True)
    return result.df


def _output_columns(model: ScoringModel, opts: ScoringOptions, scored_at: dt.datetime, ids):
    reasons = [f"reason_{i + 1}" for i in range(opts.reasons)]
    extra = ["invalid_features"] if opts.nonfinite == "null" else []
    return [
        *ids, "fraud_score", "alert", *reasons, *extra,
        F.lit(model.name).alias("model_name"), F.lit(model.version).alias("model_version"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"), PARTITION_COLUMN,
    ]  # fmt: skip


@dataclass(frozen=True)
class _Staged:
    """What a job wrote to its staging folder: per-date summaries (date_summaries'), the
    features' training range (None: unknown), the rows' scored_at, and where the features
    came from (the table or computed, why, and the data files read)."""

    dates: list[dict[str, Any]]
    bounds: Any
    scored_at: dt.datetime
    from_table: bool
    why_computed: str
    source: dict[str, Any]
    inputs: _Inputs
    footers: FooterCache  # the run's footers (the canonical table's: read by its checks)


@classic_only("run_scoring", FILE_SYSTEM)
@reads("canonical", "score")
def run_scoring(
    spark, config, *, start: dt.date, end: dt.date, model_uri: str | None = None,
    job_id: str | None = None,
) -> ScoringJobResult:  # fmt: skip
    """Score every transaction dated start..end (inclusive) and swap in their partitions
    (in a UTC session: a date is a UTC date, as ETL's event_date). `start` / `end`: dates,
    datetimes (their date) or ISO text such as "2024-01-31", as `run_evaluation` takes."""
    start, end = as_date(start, "start"), as_date(end, "end")
    check_range(start, end)
    job_id = check_name(job_id, "scoring job id") if job_id else new_job_id()
    ensure_utc(spark)
    started = time.monotonic()
    output, setting = config.scores_output()
    _check_output(spark, config, output, setting)
    check_working_directory(spark, output, setting)
    model = load_scoring_model(model_uri or config.scoring.model, config)
    job = _Job(job_id, model, _options(model, config), start, end, output)
    with output_lock(output, setting):  # recover() treats every other job's staging as dead
        swap = PartitionSwap(HadoopFs(spark), output, job_id)
        swap.recover()
        staged = _stage(spark, config, job, swap)
        partitions = _swap_in(spark, swap, output)
    summary = job_summary(job_id, model, staged.dates, output, time.monotonic() - started)
    summary.update(job_record(spark, config, job, staged))
    path = save_summary(config, job_id, summary)
    log_to_tracking(summary, path, config)
    return ScoringJobResult(job_id, str(path), partitions, summary)


def _stage(spark, config, job: _Job, swap: PartitionSwap) -> _Staged:
    """Score the job's dates into `swap.new` and summarise them per date; a failure removes
    the staging (nothing is swapped yet: it holds only this job's new files)."""
    start, end, model = job.start, job.end, job.model
    footers = FooterCache()  # this run's: each data file's footer read once
    scored, table, inputs = _scored_frame(spark, config, job, footers)
    from_table = table.df is not None
    try:
        source = data_files(spark, config, from_table, start, end, footers)
        logger.debug("score %s..%s: %d Parquet footer(s) read", start, end, footers.reads)
        scored = scored.persist()
        scored_at = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
        with task_errors():
            _write_scores(scored, job, scored_at, swap.new)
            reference = model.ensemble.metadata["scoring"]["reference"]
            bounds = training_range(model.ensemble)
            names = model.ensemble.feature_names
            dates = date_summaries(scored, names, reference, bounds=bounds)
    except BaseException:
        swap.cleanup()  # nothing swapped yet: staging holds only this job's new files
        raise
    finally:
        scored.unpersist()
        table.close()  # no longer a reader of the feature table
    return _Staged(dates, bounds, scored_at, from_table, table.why, source, inputs, footers)


def _write_scores(scored, job: _Job, scored_at: dt.datetime, folder: str) -> None:
    """The scored rows as Parquet partitions by date under `folder` (the staging's)."""
    ids = [c for c in ID_COLUMNS if c in scored.columns]
    (scored.select(*_output_columns(job.model, job.opts, scored_at, ids))
        .repartition(PARTITION_COLUMN)
        .sortWithinPartitions(PARTITION_COLUMN, *ids)
        .write.mode("error").partitionBy(PARTITION_COLUMN).parquet(folder))  # fmt: skip


def _swap_in(spark, swap: PartitionSwap, output: str) -> tuple[str, ...]:
    """Each staged date swapped in, then the table's record of its files updated. A failure
    here leaves staging for recover(): `old` may hold a live date."""
    days = swap.written_dates()
    partitions = tuple(swap.swap(day) for day in days)
    # the record of the table's files (fraud_app.etl.manifest): these dates as written now
    update_files(HadoopFs(spark), output, [partition_name(day) for day in days])
    swap.cleanup()
    return partitions
