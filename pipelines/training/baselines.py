"""The MLlib baselines of a training run: fitted beside the ensemble, scored on its windows.

Owns when the baselines are fitted and scored (validation here, test from the run's scored
test window, which carries their columns anyway) and their part of the run's report and
tracking. What a baseline is and how it is fitted belongs to fraud_app.baselines.spark; the
figures of a window to fraud_app.evaluation.spark_train.
"""

from __future__ import annotations

import logging
from typing import Any

from fraud_app.baselines.spark import Baseline, add_scores, train_baselines
from fraud_app.config import AppConfig
from fraud_app.errors import OneClassSampleError
from fraud_app.evaluation.spark_train import columns_figures
from fraud_app.scoring.tasks import task_errors

logger = logging.getLogger(__name__)


def columns_metrics(scored_df, columns: list[str], label_col: str = "label") -> dict[str, dict]:
    """Metrics of several score columns of one window (fraud_app.evaluation.spark_train:
    collected, or past `fits_on_driver` computed on the executors)."""
    with task_errors():
        return columns_figures(scored_df, columns, label_col)


def fit_baselines(splits, config: AppConfig, tracker, *, features_col: str) -> list[Baseline]:
    """Train the MLlib baselines and score them on the validation window. Their test
    metrics come from the run's scored test window (`finish_baselines`), which carries
    their scores anyway: the test window is not scored twice. A training sample of one
    class (a `baselines.normal_fraction` that kept no normal) is a WARNING and no
    baselines: they run after the ensemble's members, which the run keeps."""
    try:
        baselines = train_baselines(splits.train, config.baselines, features_col=features_col)
    except OneClassSampleError as exc:
        # the ensemble is trained by now (members first): a run that failed here lost it
        # for a comparison; the run goes on, its report and tracking without baselines
        logger.warning("%s. This run goes on without baselines.", exc)
        return []
    if baselines:
        scored = add_scores(splits.validation, baselines, features_col=features_col)
        got = columns_metrics(scored, [b.column for b in baselines])
        for b in baselines:
            b.metrics["validation"] = got[b.column]
    return baselines


def finish_baselines(baselines: list[Baseline], scored_test, tracker) -> None:
    """Test metrics from the scored test window (its `baseline_<name>` columns), then one
    nested run per baseline."""
    if baselines:
        got = columns_metrics(scored_test, [b.column for b in baselines])
        for b in baselines:
            b.metrics["test"] = got[b.column]
    for b in baselines:
        tracker.log_baseline(
            b.name, {**b.params, "rows": b.rows, "seconds": round(b.seconds, 2)}, b.metrics
        )


def baselines_report(baselines: list[Baseline]) -> dict[str, Any]:
    return {
        b.name: {**b.metrics, "rows": b.rows, "seconds": round(b.seconds, 2)} for b in baselines
    }
