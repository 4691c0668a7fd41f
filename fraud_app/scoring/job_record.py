"""The scoring job's record: what its summary (contract C3) says after the head and the
per-date summaries, and where the summary goes.

Owns `job_record` (the window, the rows' scored_at, the features' source with the data
files read (`data_files`), the history and emptied inputs, `out_of_range`, the dates
without rows and the earlier scores kept for them, the unscored dates), each note with its
WARNING, in that order; `save_summary` (`<paths.reports>/scoring-<job_id>.json`) and
`log_to_tracking` (one MLflow run per job). Does not own the job's steps or their order
(fraud_app.scoring.job), the head and per-date summaries (fraud_app.scoring.summary), or
the checks behind each note (their own modules of fraud_app.scoring).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud_app import jsonout
from fraud_app.etl.fs import HadoopFs, partition_dates
from fraud_app.etl.manifest import FooterCache
from fraud_app.etl.partition_swap import partition_name
from fraud_app.scoring.dates import (
    MAX_LISTED_DATES,
    dates_without_rows,
    warn_dates_without_rows,
    warn_earlier_scores,
)
from fraud_app.scoring.late_rows import unscored_dates, warn_unscored
from fraud_app.scoring.provenance import source_files
from fraud_app.scoring.summary import out_of_range

if TYPE_CHECKING:
    from fraud_app.scoring.job import _Job, _Staged

# its log lines keep the job's logger name, as before the split (filters, tests)
logger = logging.getLogger("fraud_app.scoring.job")


def job_record(spark, config, job: _Job, staged: _Staged) -> dict[str, Any]:
    """The summary's keys after `job_summary`'s: the window, the features' source, the inputs'
    and the dates' notes, each note with its WARNING (in this order)."""
    start, end, dates = job.start, job.end, staged.dates
    names = job.model.ensemble.feature_names
    record = {
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "scored_at": staged.scored_at.isoformat(),  # the rows' scored_at, to the second
        "features_source": {
            "source": "feature_table" if staged.from_table else "computed",
            "path": config.feature_table() if staged.from_table else config.canonical_table(),
            "why_computed": staged.why_computed or None,
            "data_files": staged.source,
        },
        "history": staged.inputs.history.to_dict() if staged.inputs.history else None,
        "emptied_inputs": {e.column: e.to_dict() for e in staged.inputs.emptied},
        "out_of_range": out_of_range(dates, names, staged.bounds),
    }
    warn_out_of_range(start, end, record["out_of_range"])
    warn_null_scores(start, end, dates)
    present = {str(d["date"]) for d in dates}
    notes = _date_notes(spark, config, job, present)
    unscored = unscored_dates(
        HadoopFs(spark), config.canonical_table(), job.output, present, staged.footers
    )
    warn_unscored(start, end, unscored, config.canonical_table())
    return {**record, **notes, "unscored_dates": unscored}


def _date_notes(spark, config, job: _Job, present: set[str]) -> dict[str, Any]:
    """The dates of the window without transactions, and the earlier scores kept for them
    (listed, not probed date by date), each with its WARNING."""
    start, end, output = job.start, job.end, job.output
    empty = dates_without_rows(start, end, present, limit=MAX_LISTED_DATES)
    missing = (end - start).days + 1 - len(present)
    warn_dates_without_rows(
        "score", start, end, empty, f"the canonical table {config.canonical_table()}", missing
    )
    low, high = start.isoformat(), end.isoformat()
    kept = [
        f"{output.rstrip('/')}/{partition_name(day)}"
        for day in sorted(partition_dates(HadoopFs(spark), output))
        if low <= day <= high and day not in present
    ]
    warn_earlier_scores(start, end, kept)
    return {"dates_without_rows": empty, "days_without_rows": missing,
            "earlier_partitions_kept": kept}  # fmt: skip


def data_files(
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


def warn_null_scores(start, end, dates: list[dict[str, Any]]) -> None:
    """One WARNING when rows were scored null (NaN or inf features, scoring.nonfinite:
    null): they are never alerted, and the job said nothing of them (session 54)."""
    null = {d["date"]: d["null_scores"] for d in dates if d.get("null_scores")}
    if not null:
        return
    rows = {d["date"]: d["rows"] for d in dates}
    shown = ", ".join(f"{day} ({n} of {rows[day]} rows)" for day, n in list(null.items())[:6])
    more = f" and {len(null) - 6} more date(s)" if len(null) > 6 else ""
    logger.warning(
        "score %s..%s: %d row(s) have NaN or infinite features and a null score "
        "(scoring.nonfinite: null), so they can raise no alert: %s%s. `invalid_features` marks "
        "them in the scores; the summary's per-feature `nonfinite` counts name the features. "
        "Fix the feature table or its input, then score those dates again",
        start, end, sum(null.values()), shown, more,
    )  # fmt: skip


def save_summary(config, job_id: str, summary: dict[str, Any]) -> Path:
    path = config.paths.local("reports") / f"scoring-{job_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return jsonout.write_atomic(path, jsonout.dumps(summary, indent=2))


def log_to_tracking(summary: dict[str, Any], path: Path, config) -> None:
    """One MLflow run per scoring job (fraud_app.tracking.jobs; nothing with tracking off)."""
    from fraud_app.tracking import log_scoring_job

    log_scoring_job(summary, path, config)
