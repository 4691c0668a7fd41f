"""Evaluation measures fraud teams work by, in plain NumPy (contract C4's figures).

* ROC AUC and average precision on probabilities (dlcore.metrics).
* Daily alert budgets and card precision@k per day: dlcore.daily_ranking, the one
  definition `backtest`, the dashboards and the benches use too (each day the top
  ceil(b * rows of the day) rows are alerted, ties at the cut-off all in; card precision@k divides by k, Le Borgne et
  al.'s, with each day's number of cards beside it).
* Per-pattern recall: for each fraud pattern, the share of its frauds inside the daily
  alerts of one budget; the frauds without a pattern (null `fraud_pattern`, e.g. labels
  that arrived later without one) beside it, counted (`pattern_unassigned`).
* The model's own threshold (`model_threshold`, when the model stores one): what `score`
  raises on the window by alerting every score >= it, one fixed score for every day
  (README "Ranking figures": how it relates to the daily budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcore.daily_ranking import alert_budget, card_precision_at_k, daily_alerts
from dlcore.metrics import average_precision, roc_auc


def _no_pattern(p: np.ndarray) -> np.ndarray:
    """Null patterns of an object array (None, or NaN where a pandas frame gave it)."""
    return np.array([x is None or (isinstance(x, float) and x != x) for x in p.tolist()], bool)


def pattern_recall(
    labels: np.ndarray, scores: np.ndarray, patterns: np.ndarray, budget: float, days: np.ndarray
) -> dict[str, float]:
    """{pattern: share of its frauds inside the daily alerts at `budget`}; frauds without a
    pattern are left out here (`pattern_unassigned` counts them)."""
    return _pattern_figures(labels, scores, patterns, budget, days)[0]


def unassigned_summary(frauds: int, alerted: int) -> dict[str, Any]:
    """The frauds without a pattern: how many, how many were alerted, their recall (NaN,
    written null, when there are none)."""
    frauds, alerted = int(frauds), int(alerted)
    return {
        "frauds": frauds,
        "alerted": alerted,
        "recall": alerted / frauds if frauds else float("nan"),
    }


def _pattern_figures(
    labels: np.ndarray, scores: np.ndarray, patterns: np.ndarray, budget: float, days: np.ndarray
) -> tuple[dict[str, float], dict[str, Any]]:
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(patterns, dtype=object)
    alerted = daily_alerts(days, scores, budget)
    fraud, none = y > 0.5, _no_pattern(p)
    out = {}
    for name in sorted({x for x in p[fraud & ~none].tolist()}):
        frauds = fraud & ~none & (p == name)
        out[str(name)] = float((frauds & alerted).sum() / frauds.sum())
    unassigned = fraud & none
    return out, unassigned_summary(unassigned.sum(), (unassigned & alerted).sum())


def threshold_figures(
    labels: np.ndarray, scores: np.ndarray, days: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Alerts of score >= threshold over the window: total, per day (mean, min, max),
    precision and recall."""
    y = np.asarray(labels, dtype=np.float64)
    alerted = np.asarray(scores, dtype=np.float64) >= threshold
    _, codes = np.unique(np.asarray(days), return_inverse=True)
    per_day = np.bincount(codes.reshape(-1), weights=alerted, minlength=codes.max() + 1)
    return threshold_summary(threshold, per_day, float(y[alerted].sum()), float(y.sum()))


def threshold_summary(
    threshold: float, per_day: np.ndarray, caught: float, frauds: float
) -> dict[str, Any]:
    """threshold_figures from its sums: the alerts of each day of the window (ascending),
    the frauds alerted and the window's frauds; the distributed figures finish here too."""
    per_day = np.asarray(per_day)
    alerts = int(per_day.sum())
    return {
        "threshold": float(threshold),
        "alerts": alerts,
        "alerts_per_day": alerts / len(per_day),
        "alerts_per_day_min": int(per_day.min()),
        "alerts_per_day_max": int(per_day.max()),
        "precision": caught / alerts if alerts else float("nan"),
        "recall": caught / frauds if frauds else float("nan"),
    }


@dataclass(frozen=True)
class FigureRequest:
    """Which figures to compute, the same on the driver (`window_report_of`) and on the
    executors (fraud_app.evaluation.spark_window.window_report)."""

    budgets: tuple[float, ...]
    card_k: int
    pattern_budget: float | None  # None: no per-pattern recall
    threshold: float | None = None  # the model's stored threshold: `model_threshold`

    @classmethod
    def of(cls, scoring, threshold: float | None = None) -> FigureRequest:
        """The request of the `scoring` config section (alert_budgets, card_k, alert_budget)."""
        return cls(tuple(scoring.alert_budgets), scoring.card_k, scoring.alert_budget, threshold)


@dataclass(frozen=True, eq=False)
class CollectedWindow:
    """A scored window's labelled rows collected on the driver, one array per column: the
    label, the score and the date of each row, and its card and fraud pattern when the
    table has them (None: those figures are left out)."""

    labels: np.ndarray
    scores: np.ndarray
    days: np.ndarray
    cards: np.ndarray | None = None
    patterns: np.ndarray | None = None


def window_report_of(window: CollectedWindow, request: FigureRequest) -> dict[str, Any]:
    """The figures of C4 (the caller adds model_uri and window). `request.threshold`: the
    model's stored alert threshold (C2), for `model_threshold`."""
    labels, scores, days = window.labels, window.scores, window.days
    n_days = len(set(np.asarray(days).tolist()))
    out: dict[str, Any] = {
        "rows": len(labels),
        "frauds": int(np.asarray(labels, dtype=np.float64).sum()),
        "days": n_days,
        "roc_auc": roc_auc(labels, scores),
        "average_precision": average_precision(labels, scores),
        "alert_budgets": [alert_budget(labels, scores, days, b) for b in request.budgets],
    }
    if window.cards is not None:
        out["card_precision_at_k"] = card_precision_at_k(
            days, window.cards, labels, scores, request.card_k
        )
    if window.patterns is not None:
        budget = request.pattern_budget
        recall, unassigned = _pattern_figures(labels, scores, window.patterns, budget, days)
        out["pattern_recall"] = recall
        out["pattern_recall_budget"] = float(budget)
        out["pattern_unassigned"] = unassigned
    if request.threshold is not None and len(labels):
        out["model_threshold"] = threshold_figures(labels, scores, days, request.threshold)
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
    threshold: float | None = None,
) -> dict[str, Any]:
    """`window_report_of` with its two parts spelled out as keywords (the form the tests
    and notebooks call)."""
    window = CollectedWindow(labels, scores, days, cards, patterns)
    return window_report_of(window, FigureRequest(budgets, card_k, pattern_budget, threshold))
