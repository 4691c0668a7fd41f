"""The validation and test windows of a training run scored and evaluated: the validation
scores and the gate's rows (`validation_scores`), the test window scored by the ensemble,
its members and the baselines (`score_test`), and each window's metrics and C4 reports
(`evaluate_windows`).

It does not own where the validation window lives (pipelines.training.validation), the
metric definitions (pipelines.training.nodes.evaluate_arrays) or writing the scores and
reports (pipelines.training.outputs).
"""

from __future__ import annotations

from fraud_app.baselines.spark import add_scores as add_baseline_scores
from pipelines.training import nodes
from pipelines.training.baselines import finish_baselines
from pipelines.training.gate import collect_gate_rows
from pipelines.training.outputs import write_test_scores, write_window_evaluations
from pipelines.training.run_context import Ensembles, RunContext
from pipelines.training.validation import scored_validation


def validation_scores(ctx: RunContext, trained: Ensembles):
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


def score_test(ctx: RunContext, ensemble, baselines):
    """The test window scored by the ensemble, its members and the baselines: its scores
    written (C5), the baselines' test metrics, and the window as evaluation takes it."""
    vector = ctx.vector
    scored_test = nodes.score(ctx.splits.test, ensemble, features_col=vector, members=True)
    scored_test = add_baseline_scores(scored_test, baselines, features_col=vector).persist()
    write_test_scores(scored_test, ctx.config.paths.resolve("test_scores", ctx.run))
    test = nodes.test_window(scored_test, ctx.config.scoring)
    finish_baselines(baselines, scored_test, ctx.tracker)
    scored_test.unpersist()
    return test


def evaluate_windows(ctx: RunContext, windows, model_path: str, *, refit: bool):
    """(metrics per window, the paths of their C4 evaluation reports); the metrics logged."""
    budget = ctx.config.scoring.alert_budget  # + the daily budget's recall (evaluate's figure)
    metrics = {name: nodes.evaluate_arrays(data, budget) for name, data in windows.items()}
    ctx.tracker.log_window_metrics(metrics)
    evaluations = write_window_evaluations(windows, ctx.config, ctx.run, model_path,
                                            ctx.splits, refit=refit)  # fmt: skip
    return metrics, evaluations
