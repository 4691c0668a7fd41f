"""`fraud-app evaluate`: a model on any window of the feature table -> evaluation JSON (C4).

Scores the window on the executors (the batch scoring path), brings back only
label, score, card, date and fraud pattern, and computes the figures with
fraud_app.scoring.evaluation. The window is start..end, both dates inclusive.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import functions as F

from fraud_app import jsonout
from fraud_app.errors import ConfigError, EmptyInputError
from fraud_app.features.compile import vector_sql
from fraud_app.features.spec import table_definitions
from fraud_app.features.table import read_feature_metadata, read_feature_table
from fraud_app.naming import check_name
from fraud_app.schema import PARTITION_COLUMN
from fraud_app.scoring.batch import score_dataframe
from fraud_app.scoring.dates import dates_without_rows, warn_dates_without_rows
from fraud_app.scoring.evaluation import evaluation_report
from fraud_app.scoring.model_source import (
    check_definitions,
    check_feature_names,
    load_scoring_model,
)
from fraud_app.scoring.tasks import task_errors

logger = logging.getLogger(__name__)


def _feature_table(spark, config):
    path = config.feature_table()
    df, names = read_feature_table(spark, path)
    return df, names, path


def collect_window(scored, columns: list[str]) -> dict[str, np.ndarray]:
    table = scored.select(*columns).toArrow()
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}


def window_figures(data: dict[str, np.ndarray], config) -> dict[str, Any]:
    """C4 figures of collected arrays (label, fraud_score, event_date, [card_id, fraud_pattern])."""
    sc = config.scoring
    return evaluation_report(
        labels=data["label"].astype(np.float64),
        scores=data["fraud_score"].astype(np.float64),
        days=data[PARTITION_COLUMN].astype(str),
        cards=data.get("card_id"),
        patterns=data.get("fraud_pattern"),
        budgets=tuple(sc.alert_budgets),
        card_k=sc.card_k,
        pattern_budget=sc.alert_budget,
    )


def check_request(start: dt.date, end: dt.date, name: str | None) -> None:
    """ConfigError for an empty window (start..end, both inclusive) or a name that cannot be
    part of a file name; the CLI calls it before Spark starts."""
    if name is not None:
        check_name(name, "evaluation name")
    if end < start:
        raise ConfigError(f"empty window: end {end} is before start {start} (both inclusive)")


def run_evaluation(
    spark, config, *, model_uri: str, start: dt.date, end: dt.date, name: str | None = None
) -> tuple[dict[str, Any], Path]:
    check_request(start, end, name)
    model = load_scoring_model(model_uri, config)
    df, table_names, path = _feature_table(spark, config)
    names = model.ensemble.feature_names
    check_feature_names(names, table_names)
    metadata = read_feature_metadata(path, spark)
    check_definitions(  # a spec changed under the same name, the table rebuilt from it
        model,
        lambda stored: table_definitions(metadata, stored),
        lambda n: (
            f"the feature table {path} computes {n} of the model's features with another "
            "definition than the model was trained on"
        ),
        "Evaluate on a feature table built with the model's specs, or retrain the model on these",
    )
    window = df.where(F.col(PARTITION_COLUMN).between(F.lit(start), F.lit(end)))
    wanted = [c for c in ("label", "card_id", "fraud_pattern", PARTITION_COLUMN) if c in df.columns]
    vector = vector_sql(names).alias("features")
    scored = score_dataframe(window.select(*wanted, vector), model.ensemble)
    with task_errors():
        data = collect_window(scored, [*wanted, "fraud_score"])
    if not len(data["fraud_score"]):
        raise EmptyInputError(
            f"no rows dated {start}..{end} in the feature table {path}: pick a window inside it"
        )
    empty = dates_without_rows(start, end, np.unique(data[PARTITION_COLUMN].astype(str)))
    warn_dates_without_rows("evaluate", start, end, empty, f"the feature table {path}")
    report = {
        "model_uri": model_uri,
        "model_name": model.name,
        "model_version": model.version,
        "window": {"start": str(start), "end": str(end)},
        "dates_without_rows": empty,
        **window_figures(data, config),
    }
    name = name or f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    out = config.paths.resolve("reports") / f"evaluation-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(jsonout.dumps(report, indent=2))
    _log_to_tracking(report, out, config)
    return report, out


def _log_to_tracking(report: dict[str, Any], path: Path, config) -> None:
    """One MLflow run per evaluation (fraud_app.tracking.jobs; nothing with tracking off)."""
    from fraud_app.tracking import log_evaluation

    log_evaluation(report, path, config)
