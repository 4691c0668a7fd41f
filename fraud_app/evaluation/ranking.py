"""Ranking metrics of one test window, as a fraud investigations team uses them.

Input: a pandas frame of the test window's transactions with columns card_id,
timestamp (UTC), label (0/1) and one score column. The definitions are
dlcore.daily_ranking's (the same as `evaluate`'s and the dashboards'):

* recall at the daily alert budget: each day the top ceil(budget * rows of the day)
  transactions by score are alerted (ties at the cut-off all in: `alerts_at_budget` counts
  them beside `alert_quota`, the days' ceil(budget * rows) summed); recall = frauds alerted / all frauds of the window.
* card precision@k per day (Le Borgne et al.): each day the k cards with the highest
  score (a card scores its highest transaction of the day) are reviewed; precision =
  reviewed cards with a fraud that day / k, with the day's number of cards beside it.
  Cards already caught on an EARLIER test day are left out of later days.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dlcore import daily_ranking
from dlcore.metrics import average_precision, roc_auc


def _days(df: pd.DataFrame) -> np.ndarray:
    """The UTC day of each row as YYYY-MM-DD text (the key `evaluate` uses too)."""
    return df["timestamp"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object)


def daily_alert_recall(df: pd.DataFrame, score: str, budget: float) -> float:
    return daily_budget(df, score, budget)["recall"]


def daily_budget(df: pd.DataFrame, score: str, budget: float) -> dict[str, Any]:
    """dlcore.daily_ranking.alert_budget's figures of the window at `budget`."""
    return daily_ranking.alert_budget(df["label"].to_numpy(), df[score].to_numpy(), _days(df),
                                      budget)  # fmt: skip


def card_precision_at_k(df: pd.DataFrame, score: str, k: int) -> list[dict[str, Any]]:
    """[{"date", "precision", "cards"}] per day, days ascending."""
    return daily_ranking.card_precision_at_k(
        _days(df), df["card_id"].to_numpy(), df["label"].to_numpy(), df[score].to_numpy(), k
    )["per_day"]


def fold_metrics(df: pd.DataFrame, score: str, *, budget: float, k: int) -> dict[str, Any]:
    """ROC AUC, AP, recall at the daily alert budget and card precision@k of one window."""
    y, s = df["label"].to_numpy(np.float64), df[score].to_numpy(np.float64)
    per_day = card_precision_at_k(df, score, k)
    at_budget = daily_budget(df, score, budget)
    return {
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "recall_at_budget": at_budget["recall"],
        "alerts_at_budget": at_budget["alerts"],
        "alert_quota": at_budget["quota"],
        "card_precision_at_k": float(np.mean([d["precision"] for d in per_day]))
        if per_day
        else float("nan"),
        "card_precision_per_day": per_day,
    }


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean and sample std (ddof 1; 0.0 of one value) of the defined values (None and NaN
    left out: a fold whose test window cannot define the metric) and `folds`, how many
    values they are over: a mean of 1 of 4 folds read as that of all 4, std 0.0."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], np.float64)
    if arr.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "folds": 0}
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "folds": int(arr.size)}
