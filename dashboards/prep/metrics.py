"""Model-quality data behind the plots: PR and ROC curves, the threshold table around an
alert budget, card precision@k and score histograms by class.

Pure functions of NumPy arrays (labels 0/1, scores in [0, 1]); no drawing here. Undefined
figures (a recall without frauds, a curve of one class) are None, never a made-up 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboards.errors import DashboardInputError
from dlcore.daily_ranking import alert_budget, daily_alerts
from dlcore.daily_ranking import card_precision_at_k as daily_card_precision


@dataclass(frozen=True)
class Curve:
    """One PR or ROC curve: x/y points (down-sampled for drawing) and the exact area."""

    x: list[float]
    y: list[float]
    area: float
    rows: int
    positives: int


@dataclass(frozen=True)
class ThresholdRow:
    budget: float  # share of rows alerted
    alerts: int
    alerts_per_day: float
    threshold: float | None  # lowest alerted score
    precision: float | None
    recall: float | None
    card_precision: float | None  # alerted cards that had a fraud that day / alerted cards


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise DashboardInputError(
            f"labels and scores must have the same length. Received {y.size} labels "
            f"and {s.size} scores"
        )
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise DashboardInputError("labels must be 0 or 1. Received other values")
    if bad := int(s.size - np.count_nonzero(np.isfinite(s))):  # dlcore.metrics refuses them too
        raise DashboardInputError(
            f"scores must be finite: {bad} of {s.size} are NaN or infinite (a NaN sorts below "
            "every number: a model that scored every normal NaN drew AUC 1.000)"
        )
    return y, s


def _counts_at_thresholds(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives when alerting on every score >= each distinct score."""
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    tps = np.cumsum(y)[last]
    return tps, (last + 1) - tps


def _thin(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[list[float], list[float]]:
    """At most `max_points` of the curve, spread evenly along its length in the unit square
    (both axes are shares), first and last kept. Spread evenly over the thresholds instead,
    a model that ranks most frauds above every normal drew its PR curve as one straight
    line from recall 0 to 80 %: those frauds took a few hundred of 90,000 thresholds."""
    if x.size > max_points:
        along = np.r_[0.0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
        marks = np.linspace(0.0, along[-1], max_points - 1)
        keep = np.searchsorted(along, marks, side="left").clip(0, x.size - 1)
        keep = np.unique(np.r_[0, keep, x.size - 1])
        x, y = x[keep], y[keep]
    return [float(v) for v in x], [float(v) for v in y]


def pr_curve(labels, scores, *, max_points: int = 400) -> Curve | None:
    """Recall (x) vs precision (y); area = average precision (step-wise, as scikit-learn).
    None when there are no rows or no frauds (precision/recall are undefined)."""
    y, s = _arrays(labels, scores)
    positives = int(y.sum())
    if positives == 0:
        return None
    tps, fps = _counts_at_thresholds(y, s)
    precision, recall = tps / (tps + fps), tps / positives
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    xs, ys = _thin(np.r_[0.0, recall], np.r_[1.0, precision], max_points)
    return Curve(xs, ys, ap, int(y.size), positives)


def roc_curve(labels, scores, *, max_points: int = 400) -> Curve | None:
    """False positive rate (x) vs true positive rate (y); area = ROC AUC (trapezoids).
    None unless both classes are present."""
    y, s = _arrays(labels, scores)
    positives = int(y.sum())
    if positives == 0 or positives == y.size:
        return None
    tps, fps = _counts_at_thresholds(y, s)
    tpr = np.r_[0.0, tps / positives]
    fpr = np.r_[0.0, fps / (y.size - positives)]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    xs, ys = _thin(fpr, tpr, max_points)
    return Curve(xs, ys, auc, int(y.size), positives)


def budgets_around(budget: float) -> list[float]:
    """The configured alert budget with a quarter, half, double and quadruple of it."""
    if not 0 < budget <= 1:
        raise DashboardInputError(f"alert budget must be in (0, 1]. Received: {budget!r}")
    return sorted({b for b in (budget / 4, budget / 2, budget, budget * 2, budget * 4) if b <= 1})


def _none(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def threshold_table(labels, scores, days, budgets, card_ids=None) -> list[ThresholdRow]:
    """For each budget, alert the top ceil(budget * rows of the day) scores of EACH day,
    ties at the cut-off all in (dlcore.daily_ranking: the definition `evaluate` and
    `backtest` use) and measure what that buys; threshold = the lowest alerted score."""
    y, s = _arrays(labels, scores)
    days = np.asarray(days).ravel()
    rows = []
    for budget in budgets:
        if not y.size:
            rows.append(ThresholdRow(float(budget), 0, 0.0, None, None, None, None))
            continue
        fig = alert_budget(y, s, days, budget)
        alerted = daily_alerts(days, s, budget)
        rows.append(
            ThresholdRow(
                budget=float(budget),
                alerts=fig["alerts"],
                alerts_per_day=fig["alerts_per_day"],
                threshold=_none(fig["threshold"]),
                precision=_none(fig["precision"]),
                recall=_none(fig["recall"]),
                card_precision=None
                if card_ids is None
                else _card_precision(y, alerted, days, np.asarray(card_ids).ravel()),
            )
        )
    return rows


def _card_precision(y, alerted, days, cards) -> float | None:
    """Mean over days with alerts of: alerted cards with a fraud that day / alerted cards.
    A null card id (None, NaN) is one card, as in dlcore.daily_ranking's card precision@k:
    grouped with pandas' default `dropna=True` its alerted rows, frauds too, were left out."""
    if not alerted.any():
        return None
    df = pd.DataFrame({"day": days, "card": cards, "fraud": y > 0, "alert": alerted})
    per_card = df.groupby(["day", "card"], dropna=False).agg(
        fraud=("fraud", "any"), alert=("alert", "any")
    )
    hit = per_card[per_card["alert"]].groupby(level="day")["fraud"].mean()
    return float(hit.mean())


def card_precision_at_k(labels, scores, days, card_ids, k: int) -> list[dict]:
    """Per day, ascending: {"date", "precision", "cards"} of dlcore.daily_ranking (the
    top k cards by their highest score; precision = those with a fraud that day / k;
    cards caught on an earlier day left out), as `evaluate` writes them."""
    y, s = _arrays(labels, scores)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise DashboardInputError(f"k must be >= 1. Received: {k!r}")
    if y.size == 0:
        return []
    return daily_card_precision(days, card_ids, y, s, int(k))["per_day"]


@dataclass(frozen=True)
class Histogram:
    edges: list[float]
    shares: dict[str, list[float] | None]  # class name -> share of that class per bin


def score_histogram(labels, scores, *, bins: int = 40) -> Histogram:
    """Share of each class's rows per score bin on [0, 1] (None for an absent class)."""
    y, s = _arrays(labels, scores)
    edges = np.linspace(0.0, 1.0, bins + 1)
    shares: dict[str, list[float] | None] = {}
    for name, mask in (("normal", y == 0), ("fraud", y == 1)):
        counts, _ = np.histogram(np.clip(s[mask], 0.0, 1.0), bins=edges)
        shares[name] = [float(c) for c in counts / mask.sum()] if mask.any() else None
    return Histogram([float(e) for e in edges], shares)
