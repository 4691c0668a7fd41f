"""Training pipeline: feature table -> splits -> balanced subsets -> ensemble -> evaluation.

Reads the feature table and its metadata from `paths.features`; writes the ensemble
to `paths.models/<run>`, test-set scores to `paths.test_scores/<run>` and a JSON report
(splits, balancing, per-member training history, validation and test metrics, the wall
seconds of each phase of the step) to `paths.reports/training-<run>.json`. With tracking on, the run is one MLflow run
(nested runs per member and baseline); the ensemble is logged as a pyfunc model,
registered and passed through the promotion gate (pipelines.training.lifecycle, gate).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcore.backends import get_ops
from fraud_app import jsonout
from fraud_app.baselines.spark import add_scores as add_baseline_scores
from fraud_app.config import AppConfig
from fraud_app.etl.readers import reads
from fraud_app.etl.table_read import read_table
from fraud_app.features.checks import check_window
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.features.table import labelled_rows, read_feature_metadata, read_feature_table
from fraud_app.models.provenance import TRAINED_FROM, TRAINED_THROUGH
from fraud_app.models.train import MemberPlan, refit_iterations, refit_plan, sample_fraction
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
from pipelines.training import lifecycle, nodes, threshold
from pipelines.training.baselines import baselines_report, finish_baselines, fit_baselines
from pipelines.training.gate import GateContext, collect_gate_rows
from pipelines.training.outputs import write_test_scores, write_window_evaluations
from pipelines.training.run_names import claim_run, drop_checkpoints
from pipelines.training.trained_dates import trained_from, trained_through
from pipelines.training.validation import scored_validation, validation_window

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


@dataclass(frozen=True)
class _RunContext:
    """What every step of one training run reads: the config, the run's name and tracker,
    the feature names and vector column, the time splits, and the phase clock."""

    config: AppConfig
    run: str
    tracker: Any
    names: list[str]
    vector: str
    splits: Any  # SplitResult
    lap: _Laps
    started: float  # time.monotonic() when the run started

    @property
    def checkpoints(self) -> str:
        return str(self.config.paths.resolve("checkpoints") / self.run)


@dataclass(frozen=True)
class _Ensembles:
    """The ensembles a run trained: the members early stopping selected (`fitted`), the
    refit on train + validation when configured, and what the report says of them."""

    fitted: Any  # EnsembleTraining
    balancing: dict[str, Any]  # the balanced subsets' summary
    feature_checks: Any  # constant / near-constant in the training window
    val: Any  # nodes.ValidationWindow on the driver, or None
    refit: Any = None  # EnsembleTraining
    refit_summary: dict[str, Any] | None = None

    @property
    def final(self):
        return self.refit or self.fitted


def _train(spark, config: AppConfig, run: str, tracker) -> TrainingReport:
    vector = config.features.vector_column or "features"
    df, names = read_features(spark, config)
    started = time.monotonic()
    lap = _Laps()
    tracker.log_config(config)  # MLflow calls run on the tracker's thread, beside training
    tracker.log_data_lineage(spark, config)

    splits = nodes.split(df, config.splits, label_delay_days=config.features.label_delay_days)
    _train_history(spark, config, splits)
    lap("splits")
    ctx = _RunContext(config, run, tracker, names, vector, splits, lap, started)
    trained = _fit_members(ctx)
    baselines = fit_baselines(splits, config, tracker, features_col=vector)
    lap("baselines")
    windows, val_scores, gate_rows = _validation_scores(ctx, trained)
    refit, refit_summary = refit_ensemble(config, splits, trained.fitted, names, vector,
                                          ctx.checkpoints)  # fmt: skip
    lap("refit")
    trained = dataclasses.replace(trained, refit=refit, refit_summary=refit_summary)
    model_path = _save_final(ctx, trained, val_scores)
    # MLflow logs the model and scores the champion for the gate while the test window is
    # scored; the registration waits for register_and_gate (a failed run registers nothing).
    gate = GateContext(
        config, names, splits, nodes.evaluate_arrays(windows["validation"])["average_precision"],
        vector, rows=gate_rows, scores=val_scores,
    )  # fmt: skip
    pending = lifecycle.start_model_logging(tracker, model_path, gate)
    windows["test"] = _score_test(ctx, trained.final.ensemble, baselines)
    lap("test_scores")
    evaluated = _evaluate(ctx, windows, str(model_path), refit=refit is not None)
    lap("evaluations")
    registry = lifecycle.register_and_gate(tracker, pending)
    lap("registry")  # waits for the model logging and the gate on the tracking thread
    return _report(ctx, trained, str(model_path), evaluated, baselines, registry)


def _fit_members(ctx: _RunContext) -> _Ensembles:
    """The feature checks, the balanced subsets and the members trained on them (with
    early stopping on the validation window when configured)."""
    config, splits, lap = ctx.config, ctx.splits, ctx.lap
    # one pass over the window: the checks, the members' standardisation statistics and
    # the input encoding's sample (the rows feature_sample would draw)
    train_rows = splits.summary["windows"]["train"]["rows"]
    encoded = config.training.model.encoding != "none"
    window = check_window(
        splits.train,
        ctx.names,
        vector_column=ctx.vector,
        rows=train_rows,
        label_column="label",
        moments=True,
        sample=(sample_fraction(train_rows), config.training.seed) if encoded else None,
    )
    lap("feature_checks")
    # The subsets are computed once for all members (persisted), not once per member.
    balanced = nodes.balance(splits.train, config.balancing, keep=[ctx.vector]).persist()
    logger.info("balancing: %s", balanced.summary)
    val = validation_window(config, ctx.tracker, splits, ctx.names, ctx.vector)
    lap("balancing_and_validation_window")
    try:
        train = nodes.TrainWindow(splits.train, ctx.names, ctx.vector, rows=_rows(splits, "train"),
                                  stats=window.moments, encoding_sample=window.sample)  # fmt: skip
        fitted = nodes.fit_ensemble(
            balanced,
            train,
            config.training,
            checkpoint_root=ctx.checkpoints,
            validation_df=val.partition_data() if val is not None else splits.validation,
        )
    finally:
        balanced.unpersist()
    lap("members")
    for k, result in enumerate(fitted.results):
        ctx.tracker.log_member(k, result)
    return _Ensembles(fitted, balanced.summary, window.checks, val)


def _validation_scores(ctx: _RunContext, trained: _Ensembles):
    """({"validation": the window as evaluation takes it}, its per-row scores, the gate's
    rows or None). Validation metrics come from the ensemble selected on validation (before
    any refit). With tracking on, the window's features go to the promotion gate, which
    scores the champion on them on the tracking thread (no Spark job beside training)."""
    val, splits = trained.val, ctx.splits
    validation, val_scores = scored_validation(val, splits, trained.fitted.ensemble, ctx.vector,
                                                ctx.config)  # fmt: skip
    with_rows = val is not None and collect_gate_rows(ctx.tracker, splits, ctx.names)
    gate_rows = val.gate_rows if with_rows else None
    ctx.lap("validation_scores")
    return {"validation": validation}, val_scores, gate_rows


def _save_final(ctx: _RunContext, trained: _Ensembles, val_scores) -> Path:
    """The final ensemble saved to `paths.models/<run>` with its scoring metadata (C2), its
    features' specs and the dates it trained on."""
    config, splits, names, refit = ctx.config, ctx.splits, ctx.names, trained.refit
    ensemble = trained.final.ensemble
    # The alert threshold stored with the model (C2) is a quantile of the FINAL model's
    # scores, so it is on the scale of the scores the model will give, on rows it did not
    # train on: the test gap's (pipelines/training/threshold.py), else validation's.
    # the whole table, unlabelled rows too; read_features judged its staleness already
    table = read_table(splits.train.sparkSession, str(config.feature_table()), "feature table",
                       "features")  # fmt: skip
    gap = threshold.gap_scores(table, splits, ensemble, ctx.vector)

    def validation_scores():
        final_val = (
            scored_validation(trained.val, splits, ensemble, ctx.vector, config, figures=False)[1]
            if refit
            else val_scores
        )
        return final_val["fraud_score"]

    scores, threshold_rows = threshold.choose(
        gap, validation_scores, splits, config.scoring.alert_budget, refit=refit is not None
    )
    ensemble.metadata["scoring"] = nodes.scoring_metadata(splits, ensemble, scores, config,
                                                          ctx.vector)  # fmt: skip
    ensemble.metadata["scoring"]["threshold_rows"] = threshold_rows
    # each feature's spec, so scoring can refuse a spec changed under the same name
    ensemble.metadata["features"] = {
        "definitions": definitions(feature_set_from_config(config.features), names)
    }
    # what the final weights trained on: a later run's gate compares with this model only
    # on validation days after it (pipelines.training.trained_dates.unseen_days)
    ensemble.metadata[TRAINED_THROUGH] = trained_through(splits, refit=refit is not None)
    ensemble.metadata[TRAINED_FROM] = trained_from(splits)
    model_path = ensemble.save(config.paths.resolve("models") / ctx.run)
    ctx.lap("scoring_metadata_and_save")
    return model_path


def _score_test(ctx: _RunContext, ensemble, baselines):
    """The test window scored by the ensemble, its members and the baselines: its scores
    written (C5), the baselines' test metrics, and the window as evaluation takes it."""
    vector = ctx.vector
    scored_test = nodes.score(ctx.splits.test, ensemble, features_col=vector, members=True)
    scored_test = add_baseline_scores(scored_test, baselines, features_col=vector).persist()
    write_test_scores(scored_test, str(ctx.config.paths.resolve("test_scores") / ctx.run))
    test = nodes.test_window(scored_test, ctx.config.scoring)
    finish_baselines(baselines, scored_test, ctx.tracker)
    scored_test.unpersist()
    return test


def _evaluate(ctx: _RunContext, windows, model_path: str, *, refit: bool):
    """(metrics per window, the paths of their C4 evaluation reports); the metrics logged."""
    budget = ctx.config.scoring.alert_budget  # + the daily budget's recall (evaluate's figure)
    metrics = {name: nodes.evaluate_arrays(data, budget) for name, data in windows.items()}
    ctx.tracker.log_window_metrics(metrics)
    evaluations = write_window_evaluations(windows, ctx.config, ctx.run, model_path,
                                            ctx.splits, refit=refit)  # fmt: skip
    return metrics, evaluations


def _report(ctx: _RunContext, trained: _Ensembles, model_path: str, evaluated, baselines,
            registry) -> TrainingReport:  # fmt: skip
    """The JSON report written to `paths.reports/training-<run>.json`; then the run's
    checkpoints dropped and its artifacts logged."""
    metrics, evaluations = evaluated
    fitted, refit, tracker = trained.fitted, trained.refit, ctx.tracker
    report = {
        "run": ctx.run,
        "model_path": model_path,
        "feature_names": ctx.names,
        "splits": ctx.splits.summary,
        "feature_checks": trained.feature_checks,  # constant / near-constant in the window
        "balancing": trained.balancing,
        "members": [_member_report(r) for r in fitted.results],
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
    }
    report_path = ctx.config.paths.resolve("reports") / f"training-{ctx.run}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    jsonout.write_atomic(report_path, jsonout.dumps(report, indent=2, default=str))
    drop_checkpoints(ctx.config, ctx.run)
    lifecycle.log_run_artifacts(tracker, ctx.config, ctx.names, report_path)
    return TrainingReport(
        ctx.run, model_path, str(report_path), metrics,
        model_uri=(registry or {}).get("registered_uri") or (registry or {}).get("model_uri"),
        registry=registry, baselines=report["baselines"], mlflow_run_id=tracker.run_id,
    )  # fmt: skip


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


def latest_model(config: AppConfig) -> Path | None:
    root = config.paths.resolve("models")
    runs = (
        sorted(p for p in root.glob("*") if (p / "ensemble.json").is_file())
        if root.is_dir()
        else []
    )
    return runs[-1] if runs else None
