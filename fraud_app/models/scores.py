"""The ranking figures of fraud scores against their labels (ROC AUC, average precision,
recall and precision at alert budgets): what evaluation, the gate and the champion read.

Pure NumPy over collected arrays (fraud_app.evaluation.spark_train computes the same on
the executors for windows too large for the driver). Moved out of fraud_app.models.train
(review46b), which re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dlcore.metrics import average_precision, roc_auc


def evaluate_scores(
    labels: np.ndarray, scores: np.ndarray, *, alert_rates: Sequence[float] = (0.001, 0.01)
) -> dict[str, Any]:
    """Ranking quality of fraud scores: ROC AUC, average precision, and capture at alert budgets.

    recall_at_alert_X: share of all frauds among the top X share of transactions by score
    (what an investigations team with that alert budget would catch): every row scoring at
    or above the round(X x rows)-th highest score, so rows tied at that cut-off are all in
    (dlcore.daily_ranking's rule; never the rows' order). precision_at_alert_X: the frauds
    among those rows / their number. alerts_at_alert_X: those rows' number; quota_at_alert_X:
    round(X x rows) (at least 1, at most the rows): alerts above the quota are rows tied at
    the cut-off, whose recall counts more alerts than the budget's (a model of few distinct
    scores, such as the GBT baseline).
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    out: dict[str, Any] = {
        "rows": len(labels),
        "frauds": int(labels.sum()),
        "roc_auc": roc_auc(labels, scores),
        "average_precision": average_precision(labels, scores),
    }
    for rate in alert_rates:
        k = max(1, round(rate * len(labels)))
        alerted = top_share(scores, k)
        caught = labels[alerted].sum()
        out[f"recall_at_alert_{rate:g}"] = (
            float(caught / labels.sum()) if labels.sum() else float("nan")
        )
        out[f"precision_at_alert_{rate:g}"] = float(caught / max(int(alerted.sum()), 1))
        out[f"alerts_at_alert_{rate:g}"] = int(alerted.sum())
        out[f"quota_at_alert_{rate:g}"] = min(k, len(labels))
    return out


def top_share(scores: np.ndarray, k: int) -> np.ndarray:
    """Mask of the rows scoring at or above the k-th highest score (ties at it all in; every
    row when there are fewer than k)."""
    if scores.size <= k:
        return np.ones(scores.size, dtype=bool)
    return scores >= -np.partition(-scores, k - 1)[k - 1]
