"""Ranking metrics of one test window, as a fraud investigations team uses them.

Input: a pandas frame of the test window's transactions with columns card_id,
timestamp (UTC), label (0/1) and one score column.

* recall at the daily alert budget: each day the top ceil(budget * rows of the day)
  transactions by score are alerted; recall = frauds alerted / all frauds of the window.
* card precision@k per day (Le Borgne et al., Reproducible Machine Learning for Credit
  Card Fraud Detection): each day the k cards with the highest score (a card scores its
  highest transaction of the day) are reviewed; precision = reviewed cards with a fraud
  that day / k. Cards already caught (a fraudulent card reviewed on an EARLIER test day)
  are left out of later days: they are blocked and no longer need finding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dlcore.metrics import average_precision, roc_auc


def daily_alert_recall(df: pd.DataFrame, score: str, budget: float) -> float:
    frauds = int(df["label"].sum())
    if frauds == 0:
        return float("nan")
    caught = 0
    for _, day in df.groupby(df["timestamp"].dt.floor("D")):
        n = math.ceil(budget * len(day))
        top = day.sort_values(score, ascending=False, kind="mergesort").head(n)
        caught += int(top["label"].sum())
    return caught / frauds


def card_precision_at_k(df: pd.DataFrame, score: str, k: int) -> list[dict[str, Any]]:
    caught: set = set()
    out = []
    for day, rows in df.groupby(df["timestamp"].dt.floor("D")):
        cards = rows.groupby("card_id").agg(score=(score, "max"), fraud=("label", "max"))
        cards = cards[~cards.index.isin(caught)]
        top = cards.sort_values("score", ascending=False, kind="mergesort").head(k)
        hits = top[top["fraud"] > 0]
        caught |= set(hits.index)
        out.append({"date": day.strftime("%Y-%m-%d"), "precision": len(hits) / k})
    return out


def fold_metrics(df: pd.DataFrame, score: str, *, budget: float, k: int) -> dict[str, Any]:
    """ROC AUC, AP, recall at the daily alert budget and card precision@k of one window."""
    y, s = df["label"].to_numpy(np.float64), df[score].to_numpy(np.float64)
    per_day = card_precision_at_k(df, score, k)
    return {
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "recall_at_budget": daily_alert_recall(df, score, budget),
        "card_precision_at_k": float(np.mean([d["precision"] for d in per_day]))
        if per_day
        else float("nan"),
        "card_precision_per_day": per_day,
    }


def mean_std(values: list[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], np.float64)
    if arr.size == 0:
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0}
