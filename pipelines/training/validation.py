"""The validation window of a training run: on the driver (collected once) when early
stopping or the promotion gate needs it there, else left on the executors; and each
ensemble's scores on it, from wherever it is.

Owns: where the window is and how an ensemble is scored on it. Does not own: early
stopping (fraud_app.spark), the gate (pipelines.training.gate) or the report
(pipelines.training.report).
"""

from __future__ import annotations

from typing import Any

from fraud_app.config import AppConfig
from fraud_app.evaluation.spark_window import fits_on_driver
from pipelines.training import gate, nodes
from pipelines.training.executor_scores import ExecutorScores


def validation_window(config: AppConfig, tracker, splits, names, vector: str):
    """The validation window on the driver (one Spark job) when early stopping or the
    promotion gate needs it there anyway; None: each model is scored on it by Spark.
    A window larger than early_stopping.max_rows stays on the executors: the members'
    early stopping collects a weighted sample of it (fraud_app.spark.validation_sample),
    and the reported figures, threshold and gate come from Spark over every row."""
    stopping = config.training.distributed.early_stopping
    rows = splits.summary["windows"]["validation"]["rows"]
    if stopping is not None and stopping.max_rows is not None and rows > stopping.max_rows:
        return None
    if stopping is None and not gate.collect_gate_rows(tracker, splits, names):
        return None
    return nodes.collect_validation_window(splits.validation, vector)


def scored_validation(val, splits, ensemble, vector: str, config: AppConfig, *,
                      figures: bool = True) -> tuple[Any, dict[str, Any] | ExecutorScores]:  # fmt: skip
    """(the validation window as evaluation takes it, its per-row scores).

    The window: its evaluation columns + `fraud_score` of `ensemble`, scored on the driver
    when it is there (same bits as the Spark scorer), else by Spark and collected; past
    `fits_on_driver` (a window that early_stopping.max_rows left on the executors) its
    figures computed on the executors (an ExecutorWindow; None with figures=False). The
    scores, for the alert threshold and the promotion gate: `label`, `fraud_score`,
    `event_date` of every row, numbers only (~13 bytes a row; the same dict as the window
    when that was collected); past `fits_on_driver` an ExecutorScores, which computes what
    the threshold and the gate ask of them on the executors (session 43: collected, they
    were 20 bytes a row of task results on the driver)."""
    if val is not None:
        data = val.scored(ensemble)
        return data, data
    rows = splits.summary["windows"]["validation"]["rows"]
    if fits_on_driver(splits.validation.sparkSession, rows):
        data = nodes.score_and_collect(splits.validation, ensemble, vector)
        return data, data
    scores = ExecutorScores(splits.validation, ensemble, vector)
    if not figures:
        return None, scores
    # test_window persists the columns its figures read (scored once)
    scored = nodes.score(splits.validation, ensemble, features_col=vector)
    return nodes.test_window(scored, config.scoring), scores
