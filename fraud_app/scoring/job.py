"""The batch scoring job (`fraud-app score`): transactions of some dates -> scores partitions.

canonical rows (dates + the history the specs need) -> point-in-time features (the
feature table's own code) -> the model's feature check -> scores on executors in Arrow
batches (score, alert, top reasons) -> `<output>/event_date=...` swapped in per date ->
summary JSON (contract C3) at `<paths.reports>/scoring-<job_id>.json`.
Owns the order of those steps; each lives in its own module of fraud_app.scoring.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.errors import ConfigError, EmptyInputError, ModelLoadError
from fraud_app.etl.fs import (
    HadoopFs,
    check_apart,
    check_working_directory,
    partition_dates,
    read_table,
)
from fraud_app.etl.manifest import FooterCache
from fraud_app.etl.manifest import update as update_files
from fraud_app.etl.partition_swap import PartitionSwap, partition_name
from fraud_app.etl.readers import reads
from fraud_app.features.compile import vector_sql
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.naming import check_name, utc_stamp
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.batch import ScoringOptions, score_dataframe
from fraud_app.scoring.dates import (
    MAX_LISTED_DATES,
    as_date,
    date_literal,
    dates_without_rows,
    warn_dates_without_rows,
    warn_earlier_scores,
)
from fraud_app.scoring.history import features_for_dates, history_timeline, warn_history
from fraud_app.scoring.input_fill import emptied_inputs, fill_counts, judged_columns, warn_emptied
from fraud_app.scoring.model_source import (
    ScoringModel,
    check_definitions,
    check_feature_names,
    load_scoring_model,
)
from fraud_app.scoring.partitions import output_lock
from fraud_app.scoring.provenance import source_files
from fraud_app.scoring.reference import training_range, warn_other_budget
from fraud_app.scoring.summary import date_summaries, out_of_range
from fraud_app.scoring.table_source import table_rows
from fraud_app.scoring.tasks import task_errors
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
    row = (
        df.where(day.between(date_literal(start), date_literal(end))).select(day).limit(1).collect()
    )
    if not row:
        span = df.agg(F.min(day), F.max(day)).first()
        raise EmptyInputError(
            f"no transactions dated {start}..{end} in the canonical table {path} (it holds "
            f"{span[0]}..{span[1]}): pick dates inside that range, or run `fraud-app etl` on new files"
        )
    return df


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


def _scored_frame(
    spark, config, model: ScoringModel, start, end, opts: ScoringOptions, footers: FooterCache
):
    """(scored rows, the table source, history, emptied inputs); `footers`: the run's
    Parquet footers, read once for the `_files.json` checks, input_fill and provenance."""
    feature_set = feature_set_from_config(config.features)
    names = model.ensemble.feature_names
    spec_names = [f.name for f in feature_set.features]
    check_feature_names(names, spec_names, extra_ok=True)  # fail before reading any data
    check_definitions(
        model,
        lambda stored: definitions(feature_set, stored),
        lambda n: (
            f"the definition of {n} of the model's features changed in the feature specs "
            "since it was trained"
        ),
        "Score with the specs the model was trained on (features.spec_dir / spec_files), or "
        "retrain the model on the current specs",
    )
    canonical = _canonical(spark, config, start, end, footers)  # fails first: dates without rows
    history = history_timeline(
        canonical, feature_set, start, end, config.validation.canonical.min_day_volume_ratio
    )
    warn_history("score", start, end, history)
    judged = judged_columns(feature_set, names)
    counts = fill_counts(
        spark, config.canonical_table(), canonical, list(judged), start, end, footers
    )
    emptied = emptied_inputs(counts, judged, start)
    warn_emptied("score", start, end, emptied, config.etl.source_for)
    table = table_rows(spark, config, feature_set, names, start, end, footers)
    try:
        if table.df is not None:
            logger.info("score %s..%s: features read from the feature table (current)", start, end)
            df = table.df
        else:
            logger.info("score %s..%s: features computed: not read from the feature table, as %s",
                        start, end, table.why)  # fmt: skip
            result = features_for_dates(canonical, feature_set, start, end)
            skipped = {s.name: s.reason for s in result.skipped}
            # the specs may compute more than the model reads (as the table may hold more)
            check_feature_names(names, list(result.feature_names), skipped=skipped, extra_ok=True)
            df = result.df
        vector = vector_sql(names).alias("features")
        ids = [c for c in ID_COLUMNS if c in df.columns]
        rows = df.select(*ids, PARTITION_COLUMN, vector)
        return score_dataframe(rows, model.ensemble, options=opts), table, history, emptied
    except BaseException:
        table.close()  # the caller never gets it to close
        raise


def _output_columns(model: ScoringModel, opts: ScoringOptions, scored_at: dt.datetime, ids):
    reasons = [f"reason_{i + 1}" for i in range(opts.reasons)]
    extra = ["invalid_features"] if opts.nonfinite == "null" else []
    return [
        *ids, "fraud_score", "alert", *reasons, *extra,
        F.lit(model.name).alias("model_name"), F.lit(model.version).alias("model_version"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"), PARTITION_COLUMN,
    ]  # fmt: skip


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
    opts = _options(model, config)
    with output_lock(output, setting):  # recover() treats every other job's staging as dead
        swap = PartitionSwap(HadoopFs(spark), output, job_id)
        swap.recover()
        footers = FooterCache()  # this run's: each data file's footer read once
        scored, table, history, emptied = _scored_frame(
            spark, config, model, start, end, opts, footers
        )
        try:
            source = _source(spark, config, table.df is not None, start, end, footers)
            logger.debug("score %s..%s: %d Parquet footer(s) read", start, end, footers.reads)
            scored = scored.persist()
            scored_at = dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
            ids = [c for c in ID_COLUMNS if c in scored.columns]
            with task_errors():
                (scored.select(*_output_columns(model, opts, scored_at, ids))
                    .repartition(PARTITION_COLUMN)
                    .sortWithinPartitions(PARTITION_COLUMN, *ids)
                    .write.mode("error").partitionBy(PARTITION_COLUMN).parquet(swap.new))  # fmt: skip
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
        # A failure from here on leaves staging for recover(): `old` may hold a live date.
        days = swap.written_dates()
        partitions = tuple(swap.swap(day) for day in days)
        # the record of the table's files (fraud_app.etl.manifest): these dates as written now
        update_files(HadoopFs(spark), output, [partition_name(day) for day in days])
        swap.cleanup()
    summary = _summary(job_id, model, dates, output, time.monotonic() - started)
    summary["window"] = {"start": start.isoformat(), "end": end.isoformat()}
    summary["scored_at"] = scored_at.isoformat()  # the rows' scored_at, to the second
    summary["features_source"] = {
        "source": "feature_table" if table.df is not None else "computed",
        "path": config.feature_table() if table.df is not None else config.canonical_table(),
        "why_computed": table.why or None,
        "data_files": source,
    }
    summary["history"] = history.to_dict() if history else None
    summary["emptied_inputs"] = {e.column: e.to_dict() for e in emptied}
    summary["out_of_range"] = beyond = out_of_range(dates, names, bounds)
    warn_out_of_range(start, end, beyond)
    present = {str(d["date"]) for d in dates}
    summary["dates_without_rows"] = empty = dates_without_rows(
        start, end, present, limit=MAX_LISTED_DATES
    )
    summary["days_without_rows"] = missing = (end - start).days + 1 - len(present)
    warn_dates_without_rows(
        "score", start, end, empty, f"the canonical table {config.canonical_table()}", missing
    )
    fs = HadoopFs(spark)
    low, high = start.isoformat(), end.isoformat()
    summary["earlier_partitions_kept"] = kept = [  # listed, not probed date by date
        f"{output.rstrip('/')}/{partition_name(day)}"
        for day in sorted(partition_dates(fs, output))
        if low <= day <= high and day not in present
    ]
    warn_earlier_scores(start, end, kept)
    path = _save_summary(config, job_id, summary)
    _log_to_tracking(summary, path, config)
    return ScoringJobResult(job_id, str(path), partitions, summary)


def _source(
    spark, config, from_table: bool, start: dt.date, end: dt.date, footers: FooterCache
) -> dict[str, Any]:
    """The partitions the job reads (`fraud_app.scoring.provenance`): the feature table's dates
    start..end, or the canonical table up to `end` (the features' history); their footers
    from the run's cache (the `_files.json` checks read them)."""
    fs = HadoopFs(spark)
    if from_table:
        return source_files(fs, config.feature_table(), start, end, footers)
    return source_files(fs, config.canonical_table(), None, end, footers)


def warn_out_of_range(start, end, beyond: dict[str, Any] | None) -> None:
    """One WARNING line naming the features with rows beyond the training range."""
    if not beyond:
        return
    ranked = sorted(beyond.items(), key=lambda kv: (-kv[1]["rows"], kv[0]))
    shown = ", ".join(f"{name} {v['rows']}" for name, v in ranked[:10])
    more = f" and {len(ranked) - 10} more features" if len(ranked) > 10 else ""
    logger.warning(
        "score %s..%s: rows beyond the training range of %d feature(s) (rows per feature): "
        "%s%s. The model clips such inputs at its standardisation's bound (training mean "
        "-+ clip x sd), so their scores and reasons treat them as at that bound; see "
        "out_of_range in the summary, and check the inputs (`fraud-app validate`)",
        start, end, len(ranked), shown, more,
    )  # fmt: skip


def _summary(job_id, model: ScoringModel, dates, output: str, seconds: float) -> dict[str, Any]:
    meta = model.ensemble.metadata["scoring"]
    return {
        "job_id": job_id,
        "model_uri": model.uri,
        "model_name": model.name,
        "model_version": model.version,
        "threshold": meta["threshold"],
        "alert_budget": meta.get("alert_budget"),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "output": output,
        "seconds": round(seconds, 2),
        "dates": dates,
        "reference": meta["reference"],
        "feature_names": model.ensemble.feature_names,
    }


def _save_summary(config, job_id: str, summary: dict[str, Any]) -> Path:
    path = config.paths.resolve("reports") / f"scoring-{job_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return jsonout.write_atomic(path, jsonout.dumps(summary, indent=2))


def _log_to_tracking(summary: dict[str, Any], path: Path, config) -> None:
    """One MLflow run per scoring job (fraud_app.tracking.jobs; nothing with tracking off)."""
    from fraud_app.tracking import log_scoring_job

    log_scoring_job(summary, path, config)
