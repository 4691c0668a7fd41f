"""The JSON report of a training run, `paths.reports/training-<run>.json` (`write_report`):
splits, balancing, per-member training history (`member_report`, also the refit's),
validation and test metrics, the wall seconds of each phase; then the run's checkpoints
dropped and its artifacts logged. TrainingReport is what `run_training` returns.

It does not own the figures it reports (computed by the steps before it) or the MLflow
artifacts' content (pipelines.training.lifecycle).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from dlcore.backends import get_ops
from fraud_app import jsonout
from fraud_app.tracking.lineage import environment as lineage_environment
from pipelines.training import lifecycle
from pipelines.training.baselines import baselines_report
from pipelines.training.run_context import Ensembles, RunContext
from pipelines.training.run_names import drop_checkpoints

logger = logging.getLogger(__name__)


@dataclass
class TrainingReport:
    run: str
    model_path: str
    report_path: str
    metrics: dict[str, Any]
    model_uri: str | None = None  # models:/<name>/<version> when registered
    registry: dict[str, Any] | None = None  # C6 "registry": the gate decision
    baselines: dict[str, Any] | None = None
    mlflow_run_id: str | None = None


def write_report(ctx: RunContext, trained: Ensembles, model_path: str, evaluated, baselines,
            registry) -> TrainingReport:  # fmt: skip
    """The JSON report written to `paths.reports/training-<run>.json`; then the run's
    checkpoints dropped and its artifacts logged."""
    metrics, evaluations = evaluated
    fitted, refit, tracker = trained.fitted, trained.refit, ctx.tracker
    warn_ties_over_quota({"ensemble": metrics, **baselines_report(baselines)}, ctx.run)
    report = {
        "run": ctx.run,
        "model_path": model_path,
        "feature_names": ctx.names,
        "splits": ctx.splits.summary,
        "feature_checks": trained.feature_checks,  # constant / near-constant in the window
        "balancing": trained.balancing,
        "members": [member_report(r) for r in fitted.results],
        "refit": trained.refit_summary,
        "training_seconds": round(fitted.seconds + (refit.seconds if refit else 0.0), 1),
        "total_seconds": round(time.monotonic() - ctx.started, 1),
        "phase_seconds": ctx.lap.seconds,  # wall seconds of the step's phases, in order
        "metrics": metrics,
        "baselines": baselines_report(baselines),
        "registry": registry,
        "mlflow_run_id": tracker.run_id,
        "evaluations": evaluations,
        "dlcore_backend": get_ops().name,  # DLCORE_BACKEND=<this> repeats the run bit for bit
        # release, library and BLAS versions, git state: also without tracking (lineage.json)
        "environment": lineage_environment(),
        # when the run ended (UTC): the dashboards' `trained` and the choice of its data
        # checks read it; the file's time is a copy's (cp without -p) in a copied reports/
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    report_path = ctx.config.paths.local("reports") / f"training-{ctx.run}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    jsonout.write_atomic(report_path, jsonout.dumps(report, indent=2, default=str))
    drop_checkpoints(ctx.config, ctx.run)
    lifecycle.log_run_artifacts(tracker, ctx.config, ctx.names, report_path)
    return TrainingReport(
        ctx.run, model_path, str(report_path), metrics,
        model_uri=(registry or {}).get("registered_uri") or (registry or {}).get("model_uri"),
        registry=registry, baselines=report["baselines"], mlflow_run_id=tracker.run_id,
    )  # fmt: skip


def member_report(r) -> dict[str, Any]:
    return {
        "iterations": r.iterations,
        "retries": r.retries,
        "failures": list(r.failures),  # "round R (group G): cause" per failed stage
        "rows": r.rows,
        "history": r.history,
        "validation": r.validation,  # C6: one record per early-stopping evaluation
        "best_iteration": r.best_iteration,
        "stopped_early": r.stopped_early,
    }


_COUNTED = re.compile(r"^(?:alerts_at_(?P<rate>alert_.+)|alerts_at_budget)$")


def ties_over_quota(figures: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(recall figure, rows alerted, alerts allowed) of each alert budget of one window's
    figures that alerted more rows than its quota: rows tied at the cut-off score are all in
    (README "Ranking figures"), so that recall counts more alerts than the budget's."""
    over = []
    for key in sorted(figures):
        m = _COUNTED.match(key)
        if m is None:
            continue
        recall, quota_key = (
            (f"recall_at_{m['rate']}", f"quota_at_{m['rate']}")
            if m["rate"] else ("recall_at_budget", "alert_quota")
        )  # fmt: skip
        alerts, quota = figures[key], figures.get(quota_key)
        if (isinstance(alerts, int) and isinstance(quota, int)
                and not isinstance(alerts, bool) and alerts > quota > 0):  # fmt: skip
            over.append((recall, alerts, quota))
    return over


def warn_ties_over_quota(models: dict[str, dict[str, Any]], run: str) -> None:
    """One WARNING per model of the run (the ensemble, each baseline) whose alert budgets
    alerted more rows than they allow on its validation or test window, naming each
    figure (as backtest's per fold: pipelines.backtest.report.warn_ties_over_budget)."""
    for model, windows in models.items():
        parts = [
            f"{recall} on the {window} window counts {alerts} alerts where the budget allows "
            f"{quota} (+{100.0 * (alerts - quota) / quota:.1f}%)"
            for window in ("validation", "test")
            if isinstance(windows.get(window), dict)
            for recall, alerts, quota in ties_over_quota(windows[window])
        ]
        if parts:
            logger.warning(
                "train %s: %s: %s: rows tied at the cut-off score are all in (README "
                "\"Ranking figures\"), so these recalls are of more alerts than the budget's; "
                "compare models at their alert counts (training report: alerts_at_*, "
                "quota_at_* / alert_quota)", run, model, "; ".join(parts),
            )  # fmt: skip
