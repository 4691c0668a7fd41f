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
from fraud_app.scoring.evaluate import window_figures
from fraud_app.scoring.tasks import task_errors
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
    )
    # Validation scores set the alert threshold stored with the model (C2), so they come first.
    windows = {"validation": nodes.score_and_collect(splits.validation, fitted.ensemble, vector)}
    fitted.ensemble.metadata["scoring"] = nodes.scoring_metadata(
        splits, fitted.ensemble, windows["validation"]["fraud_score"], config, vector
    )
    model_path = fitted.ensemble.save(paths.resolve("models") / run)
    scored_test = nodes.score(splits.test, fitted.ensemble, features_col=vector, members=True)
    scored_test = scored_test.persist()
    _write_test_scores(scored_test, str(paths.resolve("scores") / run))
    windows["test"] = nodes.collect_scores(scored_test)
    scored_test.unpersist()
    metrics = {name: nodes.evaluate_arrays(data) for name, data in windows.items()}
    evaluations = _write_window_evaluations(windows, config, run, str(model_path), splits)
    report = {
        "run": run,
        "model_path": str(model_path),
        "feature_names": names,
        "splits": splits.summary,
        "balancing": balanced.summary,
        "members": [
            {"iterations": r.iterations, "retries": r.retries, "rows": r.rows, "history": r.history}
            for r in fitted.results
        ],
        "training_seconds": round(fitted.seconds, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "metrics": metrics,
        "evaluations": evaluations,
    }
    report_path = paths.resolve("reports") / f"training-{run}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2, default=str))
    return TrainingReport(run, str(model_path), str(report_path), metrics)


def _write_test_scores(scored_df, path: str) -> None:
    """C5: transaction_id, card_id, timestamp, label, fraud_score, member_XX."""
    keep = ["transaction_id", "card_id", "timestamp", "label", "fraud_score"]
    members = [c for c in scored_df.columns if c.startswith("member_")]
    cols = [c for c in keep if c in scored_df.columns] + members
    with task_errors():
        scored_df.select(*cols).write.mode("overwrite").parquet(path)


def _write_window_evaluations(windows, config, run: str, model_path: str, splits) -> dict[str, str]:
    """C4 JSON per window: <paths.reports>/evaluation-<run>-<window>.json."""
    out = {}
    for name, data in windows.items():
        w = next(x for x in splits.windows if x.name == name)
        last = (w.end - dt.timedelta(days=1)).date()
        report = {
            "model_uri": model_path,
            "window": {"start": str(w.start.date()) if w.start else None, "end": str(last)},
            **window_figures(data, config),
        }
        path = config.paths.resolve("reports") / f"evaluation-{run}-{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
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
