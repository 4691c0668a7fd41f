"""`train`'s test-window figures and its baselines' test metrics on the executors, for a
window past `fits_on_driver` (a smaller one is collected as before: the same numbers).

`test_window_figures`: evaluate_arrays' metrics (evaluate_scores + the daily budget's
recall) and window_figures' C4 report of the scored test window; `columns_figures`:
evaluate_scores of score columns (the baselines', a tune trial's, the gate's champion on a
validation window not collected), either way. The driver receives per-date and
per-partition sums (fraud_app.evaluation.spark_window, spark_scores).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from dlcore.daily_ranking import budget_figures
from fraud_app.evaluation.spark_ranking import WindowColumns, day_figures, with_row_order
from fraud_app.evaluation.spark_scores import score_figures
from fraud_app.evaluation.spark_window import (
    FigureRequest,
    census,
    check_binary,
    fits_on_driver,
    window_report,
)
from fraud_app.models.train import evaluate_scores


@dataclass(frozen=True)
class ExecutorWindow:
    """A window's figures computed on the executors (its rows never collected)."""

    metrics: dict[str, Any]  # nodes.evaluate_arrays'
    figures: dict[str, Any]  # fraud_app.scoring.evaluate.window_figures'


def test_window_figures(scored: DataFrame, columns: list[str], scoring) -> ExecutorWindow | None:
    """None when the window fits on the driver or has no event_date (collect it)."""
    if "event_date" not in columns:
        return None
    cols = WindowColumns.of(columns)
    rows = with_row_order(scored.select(*columns)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        seen = census(rows, cols)
        if fits_on_driver(scored.sparkSession, seen.rows):
            return None
        check_binary(seen)
        metrics = score_figures(rows, cols, rows=seen.rows, frauds=seen.frauds)
        # the report's ranking of each day also counts the alerts at scoring.alert_budget
        # (its pattern_budget): the daily budget's recall, with no second ranking
        request = FigureRequest(tuple(scoring.alert_budgets), scoring.card_k, scoring.alert_budget)
        days = day_figures(rows, cols, seen.day_rows, request)
        at_budget = days.pattern_budget
        figures = budget_figures(
            scoring.alert_budget, at_budget["alerts"], float(at_budget["caught"]),
            float(seen.frauds), [], days.rows,
        )  # fmt: skip
        metrics["recall_at_budget"] = figures["recall"]
        metrics["alerts_at_budget"] = figures["alerts"]  # ties at a day's cut-off all in
        metrics["alert_quota"] = figures["quota"]
        return ExecutorWindow(metrics, window_report(rows, cols, seen, request, days))
    finally:
        rows.unpersist()


def columns_figures(scored: DataFrame, columns: list[str], label: str) -> dict[str, dict]:
    """{column: evaluate_scores' figures} of each score column: the window is persisted
    (scored once) and counted; within `fits_on_driver` collected and computed in NumPy as
    before, past it on the executors."""
    rows = with_row_order(scored.select(label, *columns)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        by_label = WindowColumns(label=label, score=columns[0], day=label, card=None)
        first = census(rows, by_label)  # grouped by label: there may be no dates
        if fits_on_driver(scored.sparkSession, first.rows):
            table = rows.select(label, *columns).toArrow()
            y = table.column(label).to_numpy(zero_copy_only=False)
            return {c: evaluate_scores(y, table.column(c).to_numpy(zero_copy_only=False))
                    for c in columns}  # fmt: skip
        out = {}
        for column in columns:  # each column's own census: its non-finite scores
            cols = dataclasses.replace(by_label, score=column)
            seen = first if column == columns[0] else census(rows, cols)
            check_binary(seen)
            out[column] = score_figures(rows, cols, rows=seen.rows, frauds=seen.frauds)
        return out
    finally:
        rows.unpersist()
