"""The model lifecycle around a training run: the model logged, registered, its alias moved.

Called by pipeline.run_training; each function takes the tracker (a NullTracker when
tracking is off) so the training code never branches on whether MLflow is in use. Owns the
order of the tracking thread's jobs (log the model, score the champion, then, once nothing
before it can fail, register and move the alias under the store's lock) and the run's
artifacts. The gate's decision lives in pipelines.training.gate, the champion it scores in
pipelines.training.champion, the baselines in pipelines.training.baselines and the dates a
model trained on in pipelines.training.trained_dates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fraud_app.config import AppConfig
from fraud_app.tracking.killed_runs import mark_orphans
from fraud_app.tracking.ownership import TRAIN_REFUSED, check_owner, claim, project_identity
from fraud_app.tracking.registry import register_decided
from fraud_app.tracking.store_lock import store_lock
from pipelines.training.gate import GateContext, gate_decision


def example_rows(df, features_col: str, n: int = 5) -> np.ndarray:
    rows = df.select(features_col).limit(n).collect()
    return np.asarray([r[0] for r in rows], dtype=np.float64)


# -- the jobs below run on the tracking thread (queued by start_model_logging) ------------
def _log_model(tracker, model_dir, ctx: GateContext):
    if ctx.rows is not None:
        example = np.asarray(ctx.rows[0][:5], dtype=np.float64)
    else:
        example = example_rows(ctx.splits.validation, ctx.features_col)
    return tracker.log_model_on_thread(model_dir, ctx.names, example)


def _register(tracker, logged_f, gate_f, ctx: GateContext) -> dict[str, Any]:
    """Register with the gate's decision and move its alias, checked: when the champion
    moved since the gate scored it (another run's gate or a `promote` in between), the gate
    runs again against the champion now in place (registry.register_decided); else the
    alias went to whichever run registered last, even a worse one. On an embedded sqlite
    store this holds the store's lock (one process of this machine at a time between the
    check and the move); a tracking server keeps the window of one request (README)."""
    logged, d = logged_f.result(), gate_f.result()  # both done: queued before this job
    with store_lock(tracker.store.uri, ctx.config.tracking.flush_timeout_s, "promotion gate"):
        # a shared store: the name may have been taken by another project since the gate
        check_owner(tracker.client, ctx.config, d.name, TRAIN_REFUSED)
        d = register_decided(
            tracker.client, logged.model_uri, d, lambda: gate_decision(tracker, ctx)
        )
        claim(tracker.client, ctx.config, d.name)
        # a killed try of this run name registered a version and died before its alias
        mark_orphans(tracker.client, tracker.store.experiment_id, d.name, tracker.run_name,
                     project_identity(ctx.config), (tracker.run_id, d.version))  # fmt: skip
    out = {**d.to_dict(), "model_uri": logged.model_uri,
           "registered_uri": f"models:/{d.name}/{d.version}"}  # fmt: skip
    tracker.log_dict(out, "registry.json")  # queued after this job
    tracker.set_tags({f"gate.{k}": v for k, v in d.to_dict().items() if k != "window"})
    tracker.log_window_metrics({"gate": {"new_ap": d.new_ap, "champion_ap": d.champion_ap}})
    return out


def start_model_logging(tracker, model_dir, ctx: GateContext):
    """Queue the model's logging and the promotion gate's scoring of the champion (C6
    "registry"), not the registration; what register_and_gate takes.

    Both run on the tracking thread, so the pipeline calls this as soon as the model is
    saved and scores the test window meanwhile; register_and_gate takes what this returns
    and only then queues the registration and the alias move, once every step before it
    has succeeded. (Queued here, the registration ran even when the test window's scoring
    failed after it: the run exited 2 as FAILED, its model already `champion`, because a
    failed run's tracker still runs what is queued when it flushes.) None when tracking is
    off.
    """
    if not tracker.enabled:
        return None
    logged = tracker.submit("log_model", _log_model, tracker, model_dir, ctx)
    if not ctx.config.registry.enabled:
        return logged, None, None
    return logged, tracker.submit("gate", gate_decision, tracker, ctx), ctx


def register_and_gate(tracker, pending) -> dict[str, Any] | None:
    """Register the logged pyfunc model with the promotion gate's decision; wait for the
    outcome. pending: what start_model_logging returned.

    Gate: the new version and the current `champion` are both scored on this run's
    validation window (GateContext.new_ap is the new model's); the new version is
    registered with its gate tags (one request) and then given its alias. Call it when
    nothing that can fail remains before the registration: a run that fails before it
    registers nothing.
    """
    if not tracker.enabled:
        return None
    logged, gate, ctx = pending
    if gate is None:
        return {"model_uri": tracker.result(logged, "log_model").model_uri}
    registered = tracker.submit("register", _register, tracker, logged, gate, ctx)
    return tracker.result(registered, "register")


def log_run_artifacts(tracker, config: AppConfig, names: list[str], report_path: Path) -> None:
    """Feature names, the newest data-validation report of each table (JSON and HTML), and
    the training report."""
    tracker.log_feature_names(names)
    for p in newest_validation_reports(config.paths.local("reports")):
        tracker.log_artifact_file(p, "validation")
    tracker.log_artifact_file(report_path)


def newest_validation_reports(reports: Path) -> list[Path]:
    """The newest `<suite>_validation-<run>.json` of each suite and its `.html`. The glob
    `*_validation.*` matched none of the names `validate` writes since reports are kept
    per run, so no run logged its validation reports."""
    newest: dict[str, Path] = {}
    for p in sorted(reports.glob("*_validation-*.json")) if reports.is_dir() else []:
        suite = p.name.split("_validation-", 1)[0]
        if suite not in newest or p.stat().st_mtime >= newest[suite].stat().st_mtime:
            newest[suite] = p
    found = []
    for p in (newest[suite] for suite in sorted(newest)):
        found += [q for q in (p, p.with_suffix(".html")) if q.is_file()]
    return found
