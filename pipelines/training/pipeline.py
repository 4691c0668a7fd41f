"""Training pipeline: feature table -> splits -> balanced subsets -> ensemble -> evaluation.

Reads the feature table and its metadata from `paths.features`; writes the ensemble
to `paths.models/<run>`, test-set scores to `paths.test_scores/<run>` and a JSON report
(splits, balancing, per-member training history, validation and test metrics, the wall
seconds of each phase of the step) to `paths.reports/training-<run>.json`. With tracking on, the run is one MLflow run
(nested runs per member and baseline); the ensemble is logged as a pyfunc model,
registered and passed through the promotion gate (pipelines.training.lifecycle, gate).

This module owns the order of the steps (`_train`) and the run's name and tracker
(`run_training`); each step lives in its own module: feature_input (the table read,
the windows' history), members (checks, balancing, members, refit), scored_windows
(validation and test scores, metrics), final_model (threshold, metadata, save), report
(the JSON report); run_context holds what they share.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from fraud_app.config import AppConfig
from fraud_app.etl.readers import reads
from fraud_app.spark.connect import BARRIER, classic_only
from fraud_app.spark.session import check_barrier_slots, utc_session
from fraud_app.tracking.runs import start_training_run
from pipelines.training import lifecycle, nodes
from pipelines.training.baselines import fit_baselines
from pipelines.training.feature_input import read_features, train_history
from pipelines.training.final_model import save_final
from pipelines.training.gate import GateContext
from pipelines.training.members import fit_members, refit_ensemble
from pipelines.training.report import TrainingReport, write_report
from pipelines.training.run_context import Laps, RunContext
from pipelines.training.run_names import claim_run
from pipelines.training.scored_windows import evaluate_windows, score_test, validation_scores


@classic_only("run_training", BARRIER)  # before the session's settings and the run's name
@utc_session
@reads("features", "train")
def run_training(
    spark, config: AppConfig, *, run: str | None = None, replace: bool = False
) -> TrainingReport:
    """One training run; with tracking on, one MLflow run (nested runs per member/baseline).

    `run` names it (default: the UTC timestamp); a finished run of that name is refused
    unless `replace`, and an interrupted one resumes (pipelines.training.run_names).
    Too few task slots for the barrier workers are refused once the name is claimed, not
    after the data's preparation (minutes on a real table)."""
    with claim_run(config, run, replace=replace) as name:
        check_barrier_slots(spark.sparkContext, config.training.distributed.num_workers)
        with start_training_run(config, name) as tracker:
            return _train(spark, config, name, tracker)


def _train(spark, config: AppConfig, run: str, tracker) -> TrainingReport:
    vector = config.features.vector_column or "features"
    # every row: the splits leave the unlabelled out and count them per window
    df, names = read_features(spark, config, labelled_only=False)
    started = time.monotonic()
    lap = Laps()
    tracker.log_config(config)  # MLflow calls run on the tracker's thread, beside training
    tracker.log_data_lineage(spark, config)

    splits = nodes.split(df, config.splits, label_delay_days=config.features.label_delay_days)
    train_history(spark, config, splits)
    lap("splits")
    ctx = RunContext(config, run, tracker, names, vector, splits, lap, started)
    trained = fit_members(ctx)
    baselines = fit_baselines(splits, config, tracker, features_col=vector)
    lap("baselines")
    windows, val_scores, gate_rows = validation_scores(ctx, trained)
    refit, refit_summary = refit_ensemble(config, splits, trained.fitted, names, vector,
                                          ctx.checkpoints)  # fmt: skip
    lap("refit")
    trained = dataclasses.replace(trained, refit=refit, refit_summary=refit_summary)
    model_path = save_final(ctx, trained, val_scores)
    # MLflow logs the model and scores the champion for the gate while the test window is
    # scored; the registration waits for register_and_gate (a failed run registers nothing).
    gate = GateContext(
        config, names, splits, nodes.evaluate_arrays(windows["validation"])["average_precision"],
        vector, rows=gate_rows, scores=val_scores,
    )  # fmt: skip
    pending = lifecycle.start_model_logging(tracker, model_path, gate)
    windows["test"] = score_test(ctx, trained.final.ensemble, baselines)
    lap("test_scores")
    evaluated = evaluate_windows(ctx, windows, str(model_path), refit=refit is not None)
    lap("evaluations")
    registry = lifecycle.register_and_gate(tracker, pending)
    lap("registry")  # waits for the model logging and the gate on the tracking thread
    return write_report(ctx, trained, str(model_path), evaluated, baselines, registry)


def latest_model(config: AppConfig) -> Path | None:
    root = config.paths.local("models")
    runs = (
        sorted(p for p in root.glob("*") if (p / "ensemble.json").is_file())
        if root.is_dir()
        else []
    )
    return runs[-1] if runs else None
