"""Training pipeline: feature table -> splits -> balanced subsets -> ensemble -> evaluation.

Reads the feature table and its metadata from `paths.features`; writes the ensemble
to `paths.models/<run>`, test-set scores to `paths.test_scores/<run>` and a JSON report
(splits, balancing, per-member training history, validation and test metrics, the wall
seconds of each phase of the step) to `paths.reports/training-<run>.json`. With tracking on, the run is one MLflow run
(nested runs per member and baseline); the ensemble is logged as a pyfunc model,
registered and passed through the promotion gate (pipelines.training.lifecycle).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark import StorageLevel

from dlcore.backends import get_ops
from fraud_app import jsonout
from fraud_app.baselines.spark import add_scores as add_baseline_scores
from fraud_app.config import AppConfig
from fraud_app.etl.readers import reads
from fraud_app.evaluation.spark_train import ExecutorWindow
from fraud_app.evaluation.spark_window import fits_on_driver
from fraud_app.features.checks import check_window
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.features.table import labelled_rows, read_feature_metadata, read_feature_table
from fraud_app.models.provenance import TRAINED_FROM, TRAINED_THROUGH
from fraud_app.models.train import MemberPlan, refit_iterations, refit_plan, sample_fraction
from fraud_app.scoring.evaluate import window_figures
from fraud_app.scoring.tasks import task_errors
from fraud_app.spark.session import utc_session
from fraud_app.timeline import (
    dates_within,
    window_dates_line,
    window_history,
    window_history_level,
    window_history_line,
)
from fraud_app.tracking.lineage import environment as lineage_environment
from fraud_app.tracking.runs import start_training_run
from pipelines.training import lifecycle, nodes
from pipelines.training.run_names import claim_run, drop_checkpoints

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


@utc_session
@reads("features", "train")
def run_training(
    spark, config: AppConfig, *, run: str | None = None, replace: bool = False
) -> TrainingReport:
    """One training run; with tracking on, one MLflow run (nested runs per member/baseline).

    `run` names it (default: the UTC timestamp); a finished run of that name is refused
    unless `replace`, and an interrupted one resumes (pipelines.training.run_names)."""
    with (
        claim_run(config, run, replace=replace) as name,
        start_training_run(config, name) as tracker,
    ):
        return _train(spark, config, name, tracker)


def read_features(spark, config: AppConfig, step: str = "train"):
    """(the labelled rows of the feature table, ordered feature names); a clear error when
    `features` has not run. Rows whose label is not known yet are left out (and counted
    in the log): train, tune and backtest never read them as normals."""
    df, names = read_feature_table(spark, config.feature_table(), config.canonical_table())
    return labelled_rows(df, step), names


def _train_history(spark, config: AppConfig, splits) -> None:
    """The training window's rows whose window features read short history (the data's
    first days, incomplete dates: fraud_app.timeline), in the split summary (`history` of
    the train window) and one line when they are many (a WARNING for incomplete dates,
    INFO for the warm-up alone: fraud_app.timeline.window_history_level)."""
    timeline = read_feature_metadata(config.feature_table(), spark).get("timeline")
    history = window_history(splits.train, timeline)
    splits.summary["windows"]["train"]["history"] = history
    line = window_history_line("training", history)
    if line:
        logger.log(window_history_level(history), "%s", line)
    for w in splits.windows[1:]:  # validation and test: the dates they hold
        thin = dates_within(timeline, w.start, w.end)
        splits.summary["windows"][w.name]["incomplete_dates"] = [t.to_dict() for t in thin]
        if thin:
            logger.warning("%s", window_dates_line(w.name, w.start, w.end, thin))


class _Laps:
    """Seconds per phase of a training run, for the report (where the step's time goes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.monotonic()

    def __call__(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = round(self.seconds.get(phase, 0.0) + now - self._t, 2)
        self._t = now


def _train(spark, config: AppConfig, run: str, tracker) -> TrainingReport:
    paths = config.paths
    vector = config.features.vector_column or "features"
    df, names = read_features(spark, config)
    started = time.monotonic()
    lap = _Laps()
    tracker.log_config(config)  # MLflow calls run on the tracker's thread, beside training
    tracker.log_data_lineage(spark, config)

    splits = nodes.split(df, config.splits, label_delay_days=config.features.label_delay_days)
    _train_history(spark, config, splits)
    lap("splits")
    # one pass over the window: the checks, the members' standardisation statistics and
    # the input encoding's sample (the rows feature_sample would draw)
    train_rows = splits.summary["windows"]["train"]["rows"]
    encoded = config.training.model.encoding != "none"
    window = check_window(
        splits.train,
        names,
        vector_column=vector,
        rows=train_rows,
        label_column="label",
        moments=True,
        sample=(sample_fraction(train_rows), config.training.seed) if encoded else None,
    )
    feature_checks = window.checks
    lap("feature_checks")
    # The subsets are computed once for all members (persisted), not once per member.
    balanced = nodes.balance(splits.train, config.balancing, keep=[vector]).persist()
    logger.info("balancing: %s", balanced.summary)
    checkpoints = str(paths.resolve("checkpoints") / run)
    val = _validation_window(config, tracker, splits, names, vector)
    lap("balancing_and_validation_window")
    try:
        train = nodes.TrainWindow(splits.train, names, vector, rows=_rows(splits, "train"),
                                  stats=window.moments, encoding_sample=window.sample)  # fmt: skip
        fitted = nodes.fit_ensemble(
            balanced,
            train,
            config.training,
            checkpoint_root=checkpoints,
            validation_df=val.partition_data() if val is not None else splits.validation,
        )
    finally:
        balanced.unpersist()
    lap("members")
    for k, result in enumerate(fitted.results):
        tracker.log_member(k, result)
    baselines = lifecycle.fit_baselines(splits, config, tracker, features_col=vector)
    lap("baselines")
    # Validation metrics come from the ensemble selected on validation (before any refit).
    # With tracking on, the window's features go to the promotion gate, which scores the
    # champion on them on the tracking thread (no Spark job beside training).
    validation, val_scores = _scored_validation(val, splits, fitted.ensemble, vector, config)
    windows = {"validation": validation}
    with_rows = val is not None and lifecycle.collect_gate_rows(tracker, splits, names)
    gate_rows = val.gate_rows if with_rows else None
    lap("validation_scores")
    refit, refit_summary = refit_ensemble(config, splits, fitted, names, vector, checkpoints)
    lap("refit")
    final = refit or fitted
    # The alert threshold stored with the model (C2) is a quantile of the FINAL model's
    # validation scores, so it is on the scale of the scores the model will give.
    final_val = (
        _scored_validation(val, splits, final.ensemble, vector, config, figures=False)[1]
        if refit
        else val_scores
    )
    final.ensemble.metadata["scoring"] = nodes.scoring_metadata(
        splits, final.ensemble, final_val["fraud_score"], config, vector
    )
    # each feature's spec, so scoring can refuse a spec changed under the same name
    final.ensemble.metadata["features"] = {
        "definitions": definitions(feature_set_from_config(config.features), names)
    }
    # what the final weights trained on: a later run's gate compares with this model only
    # on validation days after it (lifecycle.unseen_days)
    final.ensemble.metadata[TRAINED_THROUGH] = lifecycle.trained_through(
        splits, refit=refit is not None
    )
    final.ensemble.metadata[TRAINED_FROM] = lifecycle.trained_from(splits)
    model_path = final.ensemble.save(paths.resolve("models") / run)
    lap("scoring_metadata_and_save")
    # MLflow logs the model and scores the champion for the gate while the test window is
    # scored; the registration waits for register_and_gate (a failed run registers nothing).
    gate = lifecycle.GateContext(
        config, names, splits, nodes.evaluate_arrays(windows["validation"])["average_precision"],
        vector, rows=gate_rows, scores=val_scores,
    )  # fmt: skip
    pending = lifecycle.start_model_logging(tracker, model_path, gate)
    scored_test = nodes.score(splits.test, final.ensemble, features_col=vector, members=True)
    scored_test = add_baseline_scores(scored_test, baselines, features_col=vector).persist()
    _write_test_scores(scored_test, str(paths.resolve("test_scores") / run))
    windows["test"] = nodes.test_window(scored_test, config.scoring)
    lifecycle.finish_baselines(baselines, scored_test, tracker)
    scored_test.unpersist()
    lap("test_scores")
    budget = config.scoring.alert_budget  # + the daily budget's recall (evaluate's figure)
    metrics = {name: nodes.evaluate_arrays(data, budget) for name, data in windows.items()}
    tracker.log_window_metrics(metrics)
    evaluations = _write_window_evaluations(windows, config, run, str(model_path), splits,
                                            refit=refit is not None)  # fmt: skip
    lap("evaluations")
    registry = lifecycle.register_and_gate(tracker, pending)
    lap("registry")  # waits for the model logging and the gate on the tracking thread
    report = {
        "run": run,
        "model_path": str(model_path),
        "feature_names": names,
        "splits": splits.summary,
        "feature_checks": feature_checks,  # constant / near-constant in the training window
        "balancing": balanced.summary,
        "members": [_member_report(r) for r in fitted.results],
        "refit": refit_summary,
        "training_seconds": round(fitted.seconds + (refit.seconds if refit else 0.0), 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "phase_seconds": lap.seconds,  # wall seconds of the step's phases, in order
        "metrics": metrics,
        "baselines": lifecycle.baselines_report(baselines),
        "registry": registry,
        "mlflow_run_id": tracker.run_id,
        "evaluations": evaluations,
        "dlcore_backend": get_ops().name,  # DLCORE_BACKEND=<this> repeats the run bit for bit
        # release, library and BLAS versions, git state: also without tracking (lineage.json)
        "environment": lineage_environment(),
    }
    report_path = paths.resolve("reports") / f"training-{run}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    jsonout.write_atomic(report_path, jsonout.dumps(report, indent=2, default=str))
    drop_checkpoints(config, run)
    lifecycle.log_run_artifacts(tracker, config, names, report_path)
    return TrainingReport(
        run, str(model_path), str(report_path), metrics,
        model_uri=(registry or {}).get("registered_uri") or (registry or {}).get("model_uri"),
        registry=registry, baselines=report["baselines"], mlflow_run_id=tracker.run_id,
    )  # fmt: skip


def _validation_window(config: AppConfig, tracker, splits, names, vector: str):
    """The validation window on the driver (one Spark job) when early stopping or the
    promotion gate needs it there anyway; None: each model is scored on it by Spark.
    A window larger than early_stopping.max_rows stays on the executors: the members'
    early stopping collects a weighted sample of it (fraud_app.spark.validation_sample),
    and the reported figures, threshold and gate come from Spark over every row."""
    stopping = config.training.distributed.early_stopping
    rows = splits.summary["windows"]["validation"]["rows"]
    if stopping is not None and stopping.max_rows is not None and rows > stopping.max_rows:
        return None
    if stopping is None and not lifecycle.collect_gate_rows(tracker, splits, names):
        return None
    return nodes.collect_validation_window(splits.validation, vector)


def _scored_validation(val, splits, ensemble, vector: str, config: AppConfig, *,
                       figures: bool = True) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """(the validation window as evaluation takes it, its per-row scores).

    The window: its evaluation columns + `fraud_score` of `ensemble`, scored on the driver
    when it is there (same bits as the Spark scorer), else by Spark and collected; past
    `fits_on_driver` (a window that early_stopping.max_rows left on the executors) its
    figures computed on the executors (an ExecutorWindow; None with figures=False). The
    scores: `label`, `fraud_score`, `event_date` of every row, numbers only (~13 bytes a
    row), for the alert threshold and the promotion gate; the same dict as the window when
    that was collected."""
    if val is not None:
        data = val.scored(ensemble)
        return data, data
    rows = splits.summary["windows"]["validation"]["rows"]
    if fits_on_driver(splits.validation.sparkSession, rows):
        data = nodes.score_and_collect(splits.validation, ensemble, vector)
        return data, data
    scored = nodes.score(splits.validation, ensemble, features_col=vector)
    numbers = [c for c in ("label", "fraud_score", "event_date") if c in scored.columns]
    if not figures:  # one pass over the window: nothing to keep between jobs
        return None, nodes.collect_scores(scored.select(*numbers))
    scored = scored.persist(StorageLevel.MEMORY_AND_DISK)  # the figures' jobs, then the scores
    try:
        window = nodes.test_window(scored, config.scoring)
        scores = nodes.collect_scores(scored.select(*numbers))
    finally:
        scored.unpersist()
    return window, scores


def _rows(splits, *windows: str) -> int:
    """Rows of these time windows, from the splits' summary (counted when splitting)."""
    return sum(splits.summary["windows"][w]["rows"] for w in windows)


def _member_report(r) -> dict[str, Any]:
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


def refit_ensemble(config: AppConfig, splits, fitted, names, vector: str, checkpoints: str):
    """Train again on train + validation (`training.refit`): each member warm-started from
    its early-stopped best weights for `passes` passes, or from a fresh initialisation for
    its chosen iteration count (method "fresh")."""
    cfg = config.training.refit
    plan = refit_plan(fitted, cfg)
    if plan is None:  # refit off, early stopping off, or no usable validation window
        return None, None
    iterations, warm = plan
    data = nodes.refit_data(splits)
    balanced = nodes.balance(data, config.balancing, keep=[vector]).persist()
    logger.info("refit (%s) on train + validation: %s", cfg.method, balanced.summary)
    try:
        refit = nodes.fit_ensemble(
            balanced,
            # refit_data: exactly these windows
            nodes.TrainWindow(data, names, vector, rows=_rows(splits, "train", "validation")),
            config.training,
            checkpoint_root=f"{checkpoints}/refit",
            # no measuring stage: the members measured
            plan=MemberPlan(
                iterations=iterations, warm_start=warm, stage_timing=fitted.stage_timing
            ),
        )
    finally:
        balanced.unpersist()
    windows = splits.summary["windows"]
    summary = {
        "method": cfg.method,
        "chosen_iterations": refit_iterations(fitted),
        "windows": ["train", "validation"],
        "start": windows["train"]["start"],
        "end": windows["validation"]["end"],
        "rows": windows["train"]["rows"] + windows["validation"]["rows"],
        "balancing": balanced.summary,
        "iterations": [r.iterations for r in refit.results],
        "members": [_member_report(r) for r in refit.results],
    }
    return refit, summary


def _write_test_scores(scored_df, path: str) -> None:
    """C5: transaction_id, card_id, timestamp, label, fraud_score, member_XX, baseline_<name>."""
    keep = ["transaction_id", "card_id", "timestamp", "label", "fraud_score"]
    members = [c for c in scored_df.columns if c.startswith(("member_", "baseline_"))]
    cols = [c for c in keep if c in scored_df.columns] + members
    with task_errors():
        scored_df.select(*cols).write.mode("overwrite").parquet(path)


def _write_window_evaluations(
    windows, config, run: str, model_path: str, splits, *, refit: bool
) -> dict[str, str]:
    """C4 JSON per window: <paths.reports>/evaluation-<run>-<window>.json. The validation
    window's figures are those of the ensemble early stopping selected, BEFORE the refit
    (`before_refit: true`): the saved model (model_uri) trained on that window, where
    `evaluate` gives it optimistic figures; they were written under its name alone (AP
    0.669 where `evaluate` of model_uri gave 0.819)."""
    out = {}
    for name, data in windows.items():
        w = next(x for x in splits.windows if x.name == name)
        last = (w.end - dt.timedelta(microseconds=1)).date()  # a noon end keeps its date
        report = {
            "model_uri": model_path,
            "before_refit": refit and name == "validation",
            "window": {"start": str(w.start.date()) if w.start else None, "end": str(last)},
            **(data.figures if isinstance(data, ExecutorWindow) else window_figures(data, config)),
        }
        path = config.paths.resolve("reports") / f"evaluation-{run}-{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        jsonout.write_atomic(path, jsonout.dumps(report, indent=2))
        out[name] = str(path)
    return out


def latest_model(config: AppConfig) -> Path | None:
    root = config.paths.resolve("models")
    runs = (
        sorted(p for p in root.glob("*") if (p / "ensemble.json").is_file())
        if root.is_dir()
        else []
    )
    return runs[-1] if runs else None
