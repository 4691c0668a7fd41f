"""`train`'s ranking figures of one scored window (fraud_app.models.train.evaluate_scores:
ROC AUC, AP, recall and precision at the window's top X share) on the executors: the
driver receives per-partition sums and one count per alert rate, not the rows.

The top round(X x rows) rows are those of the score ordered down, ties in the frame's order
(ROW: the collect's order, as NumPy's stable sort of the collected scores), summed on the
executors (`orderBy(...).limit(k)` then an aggregation: the k rows never leave them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.evaluation.spark_ranking import ROW, WindowColumns, auc_and_ap


def score_figures(
    w: DataFrame, cols: WindowColumns, *, rows: int, frauds: int,
    alert_rates: Sequence[float] = (0.001, 0.01),
) -> dict[str, Any]:  # fmt: skip
    """evaluate_scores' figures (same keys, same numbers) of `w`'s rows: labels 0 / 1, finite
    scores, `rows` and `frauds` counted by the caller (fraud_app.evaluation.spark_window.census)."""
    out: dict[str, Any] = {
        "rows": rows,
        "frauds": frauds,
        **auc_and_ap(w, cols, frauds, rows),
    }
    ordered = w.orderBy(F.col(cols.score).desc(), F.col(ROW))
    for rate in alert_rates:
        k = max(1, round(rate * rows))
        caught = float(
            ordered.limit(k).agg(F.sum(F.col(cols.label).cast("double"))).first()[0] or 0
        )
        out[f"recall_at_alert_{rate:g}"] = float(caught / frauds) if frauds else float("nan")
        out[f"precision_at_alert_{rate:g}"] = float(caught / k)
    return out
