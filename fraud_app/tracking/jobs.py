"""MLflow for the batch jobs after training: `fraud-app evaluate` and `fraud-app score`.

Each job is one MLflow run in the configured experiment, beside the training runs:

- `evaluation-<name>` (tag fraud_app.kind=evaluation): the model (URI, name, version) and
  the window as params; ROC AUC, average precision, rows, frauds, `unlabelled_rows` (the
  rows left out of every figure, session 54), card precision@k (mean),
  precision / recall / alerts per day at each daily alert budget and recall per fraud
  pattern as metrics (`recall_<pattern>`; a name MLflow refuses: `_pattern_key`;
  `pattern_unassigned_frauds` / `_recall` for the frauds without one); the report as
  `evaluation/evaluation-<name>.json`.
- `scoring-<job id>` (tag fraud_app.kind=scoring): the model, the date range, threshold and
  alert budget as params; rows, alerts, the alert rate and `null_scores` (rows scored
  null, session 54) of the job as metrics, and per
  scored date (step = the date's position, oldest first) rows, alerts and the mean score,
  so the MLflow UI plots them over the range; the summary (score histogram, per-feature
  means and quantiles for drift) as `scoring/scoring-<job id>.json`.

The job has already written its JSON (and, for `score`, swapped in its partitions) when it
logs: a store that cannot be reached or refuses the run costs the MLflow copy, not the
job's output, so it is a WARNING naming the store and the JSON file, not an error.
`tracking.enabled: false` logs nothing.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import time
from pathlib import Path
from typing import Any

from fraud_app.redaction import redact_value
from fraud_app.tracking.killed_runs import start_owned_run
from fraud_app.tracking.store_lock import sqlite_database, writable_here
from fraud_app.tracking.tune import _finite, _param_text
from fraud_app.uris import redacted

logger = logging.getLogger(__name__)


def log_evaluation(report: dict[str, Any], path: Path, config) -> str | None:
    """Log one `fraud-app evaluate` report; the MLflow run id (None when not logged)."""
    window = report.get("window") or {}
    params = {
        "model_uri": report.get("model_uri"),
        "model_name": report.get("model_name"),
        "model_version": report.get("model_version"),
        "window_start": window.get("start"),
        "window_end": window.get("end"),
        "pattern_recall_budget": report.get("pattern_recall_budget"),
    }
    return _log_job(
        config, kind="evaluation", run_name=Path(path).stem, params=params,
        metrics=evaluation_metrics(report), steps={}, path=Path(path),
        tags={"model_name": report.get("model_name"), "model_version": report.get("model_version")},
    )  # fmt: skip


def log_scoring_job(summary: dict[str, Any], path: Path, config) -> str | None:
    """Log one `fraud-app score` summary; the MLflow run id (None when not logged)."""
    dates = sorted(summary.get("dates") or [], key=lambda d: str(d.get("date")))
    params = {
        "job_id": summary.get("job_id"),
        "model_uri": summary.get("model_uri"),
        "model_name": summary.get("model_name"),
        "model_version": summary.get("model_version"),
        "start": dates[0]["date"] if dates else None,
        "end": dates[-1]["date"] if dates else None,
        "dates": len(dates),
        "threshold": summary.get("threshold"),
        "alert_budget": summary.get("alert_budget"),
        "output": summary.get("output"),
        **_source_params(summary),
    }
    metrics, steps = scoring_metrics(summary)
    return _log_job(
        config, kind="scoring", run_name=f"scoring-{summary.get('job_id')}", params=params,
        metrics=metrics, steps=steps, path=Path(path),
        tags={"model_name": summary.get("model_name"),
              "model_version": summary.get("model_version")},
    )  # fmt: skip


def _source_params(summary: dict[str, Any]) -> dict[str, Any]:
    """The requested window, the rows' scored_at and what the job read (its summary's
    `features_source`): `start` / `end` above are the dates that had rows."""
    window = summary.get("window") or {}
    source = summary.get("features_source") or {}
    files = source.get("data_files") or {}
    return {
        "window_start": window.get("start"), "window_end": window.get("end"),
        "scored_at": summary.get("scored_at"), "features_source": source.get("source"),
        "source_path": source.get("path"), "source_files": files.get("files"),
        "source_digest": files.get("digest"),
    }  # fmt: skip


def evaluation_metrics(report: dict[str, Any]) -> dict[str, float]:
    """The report's figures as flat MLflow metric names (undefined ones left out)."""
    flat: dict[str, Any] = {
        key: report.get(key)
        for key in ("roc_auc", "average_precision", "rows", "frauds", "days", "unlabelled_rows")
    }  # unlabelled_rows: left out of every figure; a run without it read as a full window
    cards = report.get("card_precision_at_k") or {}
    if cards.get("k") is not None:
        flat[f"card_precision_at_{cards['k']}_mean"] = cards.get("mean")
    for budget in report.get("alert_budgets") or []:
        tag = _budget_tag(budget.get("budget"))
        # alerts (ties at a day's cut-off all in) beside the quota the budget allows
        for key in ("precision", "recall", "alerts_per_day", "alerts", "quota"):
            flat[f"{key}_at_budget_{tag}"] = budget.get(key)
    patterns = report.get("pattern_recall") or {}
    for pattern in sorted(patterns, key=str):  # sorted: the last-resort suffix is stable
        key = name = _pattern_key(str(pattern))
        n = 1
        while name in flat:  # only a pattern named like another's digest name
            n += 1
            name = f"{key}_{n}"
        flat[name] = patterns[pattern]
    unassigned = report.get("pattern_unassigned") or {}  # the frauds without a pattern
    flat["pattern_unassigned_frauds"] = unassigned.get("frauds")
    flat["pattern_unassigned_recall"] = unassigned.get("recall")
    return _finite(flat)


# what MLflow takes in a metric name (mlflow.utils.validation): letters, digits, _ - . / :
# and spaces, and a name that reads as one path (no `a//b`, `a/`, `a/../b`, `a/./b`);
# anything else made the whole log_batch fail
_METRIC_UNSAFE = re.compile(r"[^\w\-. /:]")
_PATTERN_KEY_CHARS = 200  # of the pattern's name; MLflow takes 250 in all


def _pattern_key(pattern: str) -> str:
    """The MLflow metric of a pattern's recall: `recall_<pattern>` when MLflow takes that
    name (as before session 49), else the name with `_` for what MLflow refuses and the
    first 8 hex digits of the pattern's SHA-256 (`CNP+ATO` -> `recall_CNP_ATO_<hex>`): the
    same pattern always has the same metric, whichever other patterns a window holds and in
    whatever order. A pattern named `at_budget_0.01` would be the budgets' metric
    `recall_at_budget_0.01`, so it is given the digest too. A pattern named
    `card testing (CNP)` or `CNP+ATO` failed the run's one log_batch: the evaluation's run
    had no metric at all (its ROC AUC neither), one WARNING said so."""
    key = "recall_" + pattern
    if (
        len(pattern) <= _PATTERN_KEY_CHARS
        and _metric_name_ok(key)
        and not key.startswith("recall_at_budget_")
    ):
        return key
    digest = hashlib.sha256(pattern.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    readable = _METRIC_UNSAFE.sub("_", pattern).replace("/", "_")[:_PATTERN_KEY_CHARS]
    return f"recall_{readable}_{digest}"


def _metric_name_ok(name: str) -> bool:
    """MLflow's two checks of a `recall_...` metric name (its characters; one path:
    mlflow.utils.validation._validate_metric_name)."""
    return _METRIC_UNSAFE.search(name) is None and posixpath.normpath(name) == name


def scoring_metrics(summary: dict[str, Any]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(job totals, per-date series oldest first) of a scoring summary."""
    dates = sorted(summary.get("dates") or [], key=lambda d: str(d.get("date")))
    rows = sum(int(d.get("rows") or 0) for d in dates)
    alerts = sum(int(d.get("alerts") or 0) for d in dates)
    totals = {"rows": rows, "alerts": alerts, "seconds": summary.get("seconds")}
    if any("null_scores" in d for d in dates):  # rows scored null: never alerted
        totals["null_scores"] = sum(int(d.get("null_scores") or 0) for d in dates)
    if rows:
        totals["alert_rate"] = alerts / rows
    if "unscored_dates" in summary:  # rows of dates scored earlier without a score (late rows)
        unscored = summary["unscored_dates"] or {}
        totals["unscored_rows"] = sum(int(v.get("unscored_rows") or 0) for v in unscored.values())
    steps = {
        f"date_{key}": [float(d[key]) if d.get(key) is not None else float("nan") for d in dates]
        for key in ("rows", "alerts", "mean_score")
    }
    return _finite(totals), steps


def _budget_tag(budget: Any) -> str:
    """0.001 -> '0.001' as an MLflow-safe key part."""
    return f"{budget:g}" if isinstance(budget, int | float) else str(budget)


def _log_job(
    config, *, kind: str, run_name: str, params: dict[str, Any], metrics: dict[str, float],
    steps: dict[str, list[float]], path: Path, tags: dict[str, Any],
) -> str | None:  # fmt: skip
    if not config.tracking.enabled:
        return None
    if (read_only := _read_only_store(config)) is not None:
        logger.warning(
            "%s %s: not logged to MLflow: the tracking store %s cannot be written here (a "
            "read-only mount?); the report is saved at %s", kind, run_name, read_only, path,
        )  # fmt: skip
        return None
    try:
        return _start_and_log(config, kind, run_name, params, metrics, steps, path, tags)
    except Exception as exc:  # the job's own output is written: say what MLflow lacks
        logger.warning(
            "%s %s: not logged to MLflow (%s: %s); the report is saved at %s",
            kind, run_name, type(exc).__name__, redacted(str(exc)), path,
        )  # fmt: skip
        return None


def _read_only_store(config) -> Path | None:
    """The database of a sqlite store this process cannot write (a scoring machine's
    read-only mount): MLflow printed its SQL error and traceback (~60 lines) first."""
    from fraud_app.tracking.client import tracking_uri

    db = sqlite_database(tracking_uri(config))
    if db is None or not db.is_file():
        return None
    return None if writable_here(db) else db


def _start_and_log(config, kind, run_name, params, metrics, steps, path, tags) -> str:
    import mlflow

    from fraud_app.tracking.client import connect

    store = connect(config)
    client = mlflow.MlflowClient()
    given = {f"fraud_app.{k}": str(v) for k, v in tags.items() if v is not None}
    run_id = start_owned_run(client, store.experiment_id, run_name, kind, tags=given)
    status = "FAILED"
    try:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            params=[
                Param(k, redact_value(k, _param_text(v))[:6000])
                for k, v in params.items()
                if v is not None
            ],
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()]
            + [
                Metric(k, v, now, step)
                for k, series in steps.items()
                for step, v in enumerate(series)
                if v == v  # NaN: a date without that figure
            ],
        )
        client.log_artifact(run_id, str(path), artifact_path=kind)
        status = "FINISHED"
    finally:
        client.set_terminated(run_id, status)
    logger.info(
        "%s logged to MLflow: run %s (%s) in %s", kind, run_id, run_name, redacted(store.uri)
    )
    return run_id
