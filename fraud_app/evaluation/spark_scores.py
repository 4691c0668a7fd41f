"""`train`'s ranking figures of one scored window (fraud_app.models.train.evaluate_scores:
ROC AUC, AP, recall and precision at the window's top X share) on the executors: the
driver receives per-partition sums and one count per alert rate, not the rows.

The top X share is every row scoring at or above the round(X x rows)-th highest score (ties
at that cut-off all in, as fraud_app.models.scores.top_share): the cut-off from an
`orderBy(...).limit(k)` aggregated on the executors, then one aggregation of the rows at or
above it; the rows never leave the executors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from fraud_app.evaluation.spark_ranking import WindowColumns, auc_and_ap


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
    score = F.col(cols.score)
    ordered = w.orderBy(score.desc())
    for rate in alert_rates:
        k = max(1, round(rate * rows))
        cutoff = ordered.limit(k).agg(F.min(score)).first()[0]
        top = w if cutoff is None else w.where(score >= F.lit(float(cutoff)))
        alerts, caught = top.agg(F.count(F.lit(1)), F.sum(F.col(cols.label).cast("double"))).first()
        caught = float(caught or 0)
        out[f"recall_at_alert_{rate:g}"] = float(caught / frauds) if frauds else float("nan")
        out[f"precision_at_alert_{rate:g}"] = float(caught / max(int(alerts), 1))
        out[f"alerts_at_alert_{rate:g}"] = int(alerts)
        out[f"quota_at_alert_{rate:g}"] = min(k, rows)
    return out
