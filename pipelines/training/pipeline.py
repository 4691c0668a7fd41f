"""Training pipeline: feature table -> splits -> balanced subsets -> ensemble -> evaluation.

Reads the feature table and its metadata from `paths.features`; writes the ensemble
to `paths.models/<run>`, test-set scores to `paths.scores/<run>` and a JSON report
(splits, balancing, per-member training history, validation and test metrics) to
`paths.reports/training-<run>.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud_app.config import AppConfig
from fraud_app.errors import EmptyInputError
from fraud_app.features.table import read_feature_metadata
from pipelines.training import nodes

logger = logging.getLogger(__name__)


@dataclass
class TrainingReport:
    run: str
    model_path: str
    report_path: str
    metrics: dict[str, Any]


def run_training(spark, config: AppConfig, *, run: str | None = None) -> TrainingReport:
    run = run or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    paths = config.paths
    features_path = str(config.features.output or paths.resolve("features"))
    try:
        meta = read_feature_metadata(features_path, spark)
    except FileNotFoundError as exc:
        raise EmptyInputError(
            f"feature table {features_path} does not exist; run `fraud-app features` first"
        ) from exc
    vector = config.features.vector_column or "features"
    names = list(meta["feature_names"])
    df = spark.read.parquet(features_path)
    started = time.monotonic()

    splits = nodes.split(df, config.splits, label_delay_days=config.features.label_delay_days)
    balanced = nodes.balance(splits.train, config.balancing)
    logger.info("balancing: %s", balanced.summary)
    checkpoints = str(paths.resolve("checkpoints") / run)
    fitted = nodes.fit_ensemble(
        balanced,
        splits.train,
        config.training,
        names,
        features_col=vector,
        checkpoint_root=checkpoints,
        validation_df=splits.validation,
    )
    # Validation metrics come from the ensemble selected on validation (before any refit).
    metrics = {
        "validation": nodes.evaluate(
            nodes.score(splits.validation, fitted.ensemble, features_col=vector)
        )
    }
    refit, refit_summary = _refit(config, splits, fitted, names, vector, checkpoints)
    final = refit or fitted
    model_path = final.ensemble.save(paths.resolve("models") / run)
    metrics["test"] = nodes.evaluate(nodes.score(splits.test, final.ensemble, features_col=vector))
    scored_test = nodes.score(splits.test, final.ensemble, features_col=vector)
    scored_test.select("transaction_id", "timestamp", "label", "fraud_score").write.mode(
        "overwrite"
    ).parquet(str(paths.resolve("scores") / run))
    report = {
        "run": run,
        "model_path": str(model_path),
        "feature_names": names,
        "splits": splits.summary,
        "balancing": balanced.summary,
        "members": [_member_report(r) for r in fitted.results],
        "refit": refit_summary,
        "training_seconds": round(fitted.seconds + (refit.seconds if refit else 0.0), 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "metrics": metrics,
    }
    report_path = paths.resolve("reports") / f"training-{run}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2, default=str))
    return TrainingReport(run, str(model_path), str(report_path), metrics)


def _member_report(r) -> dict[str, Any]:
    return {
        "iterations": r.iterations,
        "retries": r.retries,
        "rows": r.rows,
        "history": r.history,
        "validation": r.validation,  # C6: one record per early-stopping evaluation
        "best_iteration": r.best_iteration,
        "stopped_early": r.stopped_early,
    }


def _refit(config: AppConfig, splits, fitted, names, vector: str, checkpoints: str):
    """Train again on train + validation with each member's chosen iteration count."""
    if not config.training.refit:
        return None, None
    iterations = nodes.refit_iterations(fitted)
    if iterations is None:  # early stopping off, or no usable validation window
        return None, None
    data = nodes.refit_data(splits)
    balanced = nodes.balance(data, config.balancing)
    logger.info("refit on train + validation with iterations %s: %s", iterations, balanced.summary)
    refit = nodes.fit_ensemble(
        balanced,
        data,
        config.training,
        names,
        features_col=vector,
        checkpoint_root=f"{checkpoints}/refit",
        iterations=iterations,
    )
    windows = splits.summary["windows"]
    summary = {
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
