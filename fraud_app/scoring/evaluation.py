"""Evaluation measures fraud teams work by, in plain NumPy (contract C4's figures).

* ROC AUC and average precision on probabilities (dlcore.metrics).
* Alert budgets: with budget b the team reviews the k = max(1, round(b * rows)) highest
  scores of the window (b * rows per day on average); precision = frauds among them / k,
  recall = frauds among them / all frauds; `threshold` is the k-th highest score.
* Card precision@k per day (Le Borgne et al., "Reproducible machine learning for credit
  card fraud detection", 2022): each day, rank that day's cards by their highest score,
  take the top k, precision = share of them that are compromised (a fraud that day).
  Compromised cards in a day's top k are "caught": blocked, so left out of every later
  day. A day with fewer than k cards divides by its number of cards.
* Per-pattern recall: for each fraud pattern, the share of its frauds inside the alerts
  of one budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore.metrics import average_precision, roc_auc


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    # stable: among equal scores the earlier row wins, so reruns agree
    return np.argsort(-scores, kind="stable")[:k]


def budget_metrics(
    labels: np.ndarray, scores: np.ndarray, budget: float, days: int
) -> dict[str, float]:
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    k = min(len(s), max(1, round(budget * len(s))))
    top = _top_k(s, k)
    caught = float(y[top].sum())
    frauds = float(y.sum())
    return {
        "budget": float(budget),
        "alerts": int(k),
        "alerts_per_day": k / max(days, 1),
        "threshold": float(s[top[-1]]),
        "precision": caught / k,
        "recall": caught / frauds if frauds else float("nan"),
    }


def card_precision_at_k(
    days: np.ndarray, cards: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int
) -> dict[str, Any]:
    """{"k", "per_day": [{"date", "precision", "cards"}], "mean"} (days in sorted order)."""
    days, cards = np.asarray(days), np.asarray(cards)
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    caught: set = set()
    per_day = []
    for day in sorted(set(days.tolist())):
        rows = days == day
        best: dict[Any, tuple[float, float]] = {}
        for card, s, y in zip(cards[rows].tolist(), scores[rows], labels[rows], strict=True):
            if card in caught:
                continue
            old = best.get(card)
            best[card] = (s, y) if old is None else (max(old[0], s), max(old[1], y))
        if not best:
            per_day.append({"date": str(day), "precision": float("nan"), "cards": 0})
            continue
        names = list(best)
        card_scores = np.array([best[c][0] for c in names])
        top = _top_k(card_scores, min(k, len(names)))
        hits = [names[i] for i in top if best[names[i]][1] > 0.5]
        caught.update(hits)
        per_day.append({"date": str(day), "precision": len(hits) / len(top), "cards": len(names)})
    values = [d["precision"] for d in per_day if not np.isnan(d["precision"])]
    return {
        "k": int(k),
        "per_day": per_day,
        "mean": float(np.mean(values)) if values else float("nan"),
    }


def pattern_recall(
    labels: np.ndarray, scores: np.ndarray, patterns: np.ndarray, budget: float
) -> dict[str, float]:
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(patterns, dtype=object)
    alerted = np.zeros(len(s), dtype=bool)
    alerted[_top_k(s, min(len(s), max(1, round(budget * len(s)))))] = True
    out = {}
    for name in sorted({x for x in p[y > 0.5].tolist() if x is not None}):
        frauds = (y > 0.5) & (p == name)
        out[str(name)] = float((frauds & alerted).sum() / frauds.sum())
    return out


def evaluation_report(
    *,
    labels: np.ndarray,
    scores: np.ndarray,
    days: np.ndarray,
    cards: np.ndarray | None,
    patterns: np.ndarray | None,
    budgets: tuple[float, ...],
    card_k: int,
    pattern_budget: float,
) -> dict[str, Any]:
    """The figures of C4 (the caller adds model_uri and window)."""
    n_days = len(set(np.asarray(days).tolist()))
    out: dict[str, Any] = {
        "rows": len(labels),
        "frauds": int(np.asarray(labels, dtype=np.float64).sum()),
        "days": n_days,
        "roc_auc": roc_auc(labels, scores),
        "average_precision": average_precision(labels, scores),
        "alert_budgets": [budget_metrics(labels, scores, b, n_days) for b in budgets],
    }
    if cards is not None:
        out["card_precision_at_k"] = card_precision_at_k(days, cards, labels, scores, card_k)
    if patterns is not None:
        out["pattern_recall"] = pattern_recall(labels, scores, patterns, pattern_budget)
        out["pattern_recall_budget"] = float(pattern_budget)
    return out
