"""A backtest fold's test-window figures (fraud_app.evaluation.ranking.fold_metrics) on the
executors: the window's rows stay there, the driver receives per-day and per-partition sums
(fraud_app.evaluation.spark_window). The day of a row is its timestamp's UTC date (the
session is UTC), as `ranking._days` took it from the collected timestamps; ties of scores
at a cut-off are all in and tied cards go by id (dlcore.daily_ranking), so no figure
depends on the rows' order or partitions.

Does not own: training the fold's models, the xgboost baseline (it scores on the driver, whose
training window it collects anyway: fraud_app.evaluation.baseline).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.evaluation.spark_cards import card_precision
from fraud_app.evaluation.spark_ranking import (
    WindowColumns,
    auc_and_ap,
    budget_report,
    day_figures,
    with_row_order,
)
from fraud_app.evaluation.spark_window import Census, FigureRequest, census, check_binary

DAY = "__day"
COLUMNS = WindowColumns(day=DAY, card="card_id", pattern=None)


def fold_rows(scored: DataFrame) -> DataFrame:
    """The columns the figures read, in the scored frame's order, persisted (each figure
    reads them again; the scoring runs once). The caller unpersists."""
    rows = scored.select(
        "transaction_id", "card_id", "timestamp", F.to_date("timestamp").alias(DAY), "label",
        "fraud_score",
    )  # fmt: skip
    return with_row_order(rows).persist(StorageLevel.MEMORY_AND_DISK)


def fold_census(rows: DataFrame, score: str = "fraud_score") -> Census:
    return census(rows, dataclasses.replace(COLUMNS, score=score))


def with_scores(rows: DataFrame, scores: DataFrame, name: str) -> DataFrame:
    """`rows` + `name`: the score `scores` (transaction_id, _p) gives each transaction (null
    for one it does not score, which the figures then refuse as a non-finite score)."""
    return rows.join(scores.withColumnRenamed("_p", name), "transaction_id", "left")


def fold_figures(
    rows: DataFrame, seen: Census, score: str, *, budget: float, k: int
) -> dict[str, Any]:
    """fold_metrics' figures of `rows` (`seen`: their census under this score)."""
    check_binary(seen)
    cols = dataclasses.replace(COLUMNS, score=score)
    out = auc_and_ap(rows, cols, seen.frauds, seen.rows)
    request = FigureRequest((budget,), k, None)
    days = day_figures(rows, cols, seen.day_rows, request)
    cards = card_precision(rows, cols, k, days.days)
    at_budget = budget_report(request, days, seen.frauds)[0]
    return {
        **out,
        "recall_at_budget": at_budget["recall"],
        "alerts_at_budget": at_budget["alerts"],
        "alert_quota": at_budget["quota"],
        "card_precision_at_k": cards["mean"],
        "card_precision_per_day": cards["per_day"],
    }
