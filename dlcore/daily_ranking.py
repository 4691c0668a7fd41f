"""Ranking figures of a team that reviews a fixed share of each day's rows, in plain NumPy.

The ONE definition of each (session 20: `backtest`, `evaluate`, the dashboards and the
benches had two of each; they all call these now). Inputs are arrays of one window: a
day label per row (any sortable value: "2024-01-05", a datetime64 day), scores, 0/1
labels and, for cards, a card id per row.

* Daily alert budget b: each day's cut-off is the score of its `alerts_for(b, rows of
  the day)`-th highest row (ceil(b * rows of the day), at least one on a day with rows)
  and every row of the day scoring at or above it is alerted. TIES AT THE CUT-OFF ARE ALL
  IN: rows sharing the cut-off score are alerted together, so a day can hold more alerts
  than its quota (a constant score alerts the whole day), exactly as `score`'s alert
  column alerts every score >= the model's threshold. Which rows are alerted depends on
  the scores alone, never on the rows' order or partitioning (until session 50 the
  earlier row took the last place, so the same rows in another order gave other alerts).
  `alert_budget` sums the days: alerts (the rows alerted, ties included), alerts per
  day, precision = frauds alerted / alerts, recall = frauds alerted / frauds of the
  window, threshold = the lowest alerted score (each day's cut-off is at or above it;
  `daily_thresholds` gives their min / median / max).
* Card precision@k per day (Le Borgne et al., "Reproducible machine learning for credit
  card fraud detection - practical handbook", 2022): each day the day's cards are ranked
  by their highest score of the day and the top k reviewed; precision = reviewed cards
  with a fraud that day / k. Cards caught on an EARLIER day (a fraud card in that day's
  top k) are left out of later days: blocked, they need no finding. A day with fewer than
  k cards still divides by k (its `cards` count says so); the window's figure is the mean
  over its days. Ties between cards at the k-th place: the lower card id first, a null
  id (None, NaN) after every other id; ids of mixed types: numbers (by value) before the
  others, those by type name, then by value: k cards a day whatever the rows' order
  (until session 50 a day holding a null id took its tied cards in the order they were
  first seen).

Does not own: AUC and AP (dlcore.metrics), choosing b or k, reading the data.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from dlcore.errors import ConfigError, ShapeError
from dlcore.metrics import _check


def alerts_for(budget: float, rows: int) -> int:
    """ceil(budget * rows) alerts for a day of `rows` rows (>= 1 when rows > 0, never more
    than rows). 0.07 * 100 is 7.000000000000001 in floating point: rounded to 9 decimals
    first, so it is 7 alerts, not 8."""
    if not 0 < budget <= 1:
        raise ConfigError(f"alert budget must be in (0, 1]. Received: {budget!r}")
    if rows <= 0:
        return 0
    return min(rows, max(1, math.ceil(round(budget * rows, 9))))


def _day_codes(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct days in ascending order, each row's index into them)."""
    values, codes = np.unique(np.asarray(days).reshape(-1), return_inverse=True)
    return values, codes.reshape(-1)


def daily_alerts(days: np.ndarray, scores: np.ndarray, budget: float) -> np.ndarray:
    """Boolean mask of the rows alerted under the daily budget (see the module doc)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    _, codes = _day_codes(days)
    if codes.shape != s.shape:
        raise ShapeError(f"days and scores must have the same length: {codes.size} and {s.size}")
    alerted = np.zeros(s.size, dtype=bool)
    if not s.size:
        return alerted
    order = np.lexsort((-s, codes))  # by day, score down
    sorted_codes, sorted_s = codes[order], s[order]
    first = np.searchsorted(sorted_codes, sorted_codes, side="left")
    per_day = np.bincount(codes)
    quota = np.array([alerts_for(budget, int(n)) for n in per_day])
    cutoff = sorted_s[first + quota[sorted_codes] - 1]  # each row's day's quota-th score
    alerted[order] = sorted_s >= cutoff  # ties at the cut-off all in
    return alerted


def alert_budget(
    labels: np.ndarray, scores: np.ndarray, days: np.ndarray, budget: float
) -> dict[str, Any]:
    """The figures of one daily budget over a window (keys as `evaluate` writes them)."""
    y, s = _check(labels, scores)
    alerted = daily_alerts(days, s, budget)
    day_values, codes = _day_codes(days)
    alerts, caught, frauds = int(alerted.sum()), float(y[alerted].sum()), float(y.sum())
    cutoffs = [float(s[alerted & (codes == d)].min()) for d in np.unique(codes[alerted])]
    per_day = np.bincount(codes, minlength=len(day_values)).tolist()
    return budget_figures(budget, alerts, caught, frauds, cutoffs, per_day)


def budget_figures(
    budget: float, alerts: int, caught: float, frauds: float, cutoffs: list[float],
    day_rows: list[int],
) -> dict[str, Any]:  # fmt: skip
    """`alert_budget`'s figures from its sums: the window's alerts, frauds alerted and
    frauds, each alerting day's cut-off (its lowest alerted score, days ascending) and each
    day's rows. The distributed figures (fraud_app.evaluation.spark_ranking) sum per day on
    the executors and finish here, so both give the same bits. `quota`: the alerts the
    budget allows (the days' ceil(b x rows) summed); `alerts` above it are rows tied at a
    day's cut-off."""
    days = len(day_rows)
    return {
        "budget": float(budget),
        "scope": "day",
        "alerts": alerts,
        "quota": sum(alerts_for(budget, int(n)) for n in day_rows),
        "alerts_per_day": alerts / max(days, 1),
        "threshold": min(cutoffs) if cutoffs else float("nan"),
        "daily_thresholds": {
            "min": min(cutoffs) if cutoffs else float("nan"),
            "median": float(np.median(cutoffs)) if cutoffs else float("nan"),
            "max": max(cutoffs) if cutoffs else float("nan"),
        },
        "precision": caught / alerts if alerts else float("nan"),
        "recall": caught / frauds if frauds else float("nan"),
    }


def _is_null(card: Any) -> bool:
    return card is None or (isinstance(card, float) and card != card)


def _card_key(card: Any) -> tuple:
    """A card id's place in the tie order: numbers by value before ids of other types,
    those grouped by type name and by value within it. Keyed so, 9 stays before 10 on a
    day that also holds a text id (review50c: sorted by (type name, repr) as soon as one
    id did not compare with another, 10 came before 9 there and after it on other days)."""
    if isinstance(card, numbers.Number) and not isinstance(card, complex):
        return (0, "", card)
    return (1, type(card).__name__, card)


def _card_order(cards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct cards, each row's index into them) in the card tie order: ids ascending
    (`_card_key`: numbers, then other types by type name), one null card (None and NaN
    alike, as Spark groups nulls) last; ids of one type that do not compare with each
    other by repr. Never the rows' order."""
    items = [None if _is_null(c) else c for c in cards.tolist()]
    named = {c for c in items if c is not None}
    try:
        ordered = sorted(named, key=_card_key)
    except TypeError:
        ordered = sorted(named, key=lambda c: (*_card_key(c)[:2], repr(c)))
    if len(named) < len(set(items)):
        ordered.append(None)
    index = {c: i for i, c in enumerate(ordered)}
    values = np.empty(len(ordered), dtype=object)
    values[:] = ordered
    return values, np.array([index[c] for c in items], dtype=np.int64)


def card_precision_at_k(
    days: np.ndarray, cards: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int
) -> dict[str, Any]:
    """{"k", "per_day": [{"date", "precision", "cards"}], "mean"}, days ascending; `cards`
    is the number of the day's cards that could be reviewed (caught ones left out)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"card precision@k needs an integer k >= 1. Received: {k!r}")
    y, s = _check(labels, scores)
    day_values, day_codes = _day_codes(days)
    cards = np.asarray(cards, dtype=object).reshape(-1)
    if not (day_codes.size == cards.size == s.size):
        raise ShapeError(
            f"days, cards and scores must have the same length: {day_codes.size}, "
            f"{cards.size} and {s.size}"
        )
    caught: set = set()
    per_day = []
    for d, day in enumerate(day_values):
        rows = day_codes == d
        names, idx = _card_order(cards[rows])
        best = np.full(names.size, -np.inf)
        fraud = np.zeros(names.size)
        np.maximum.at(best, idx, s[rows])
        np.maximum.at(fraud, idx, y[rows])
        keep = np.array([c not in caught for c in names.tolist()], dtype=bool)
        names, best, fraud = names[keep], best[keep], fraud[keep]
        top = np.argsort(-best, kind="stable")[:k]
        hits = [names[i] for i in top if fraud[i] > 0.5]
        caught.update(hits)
        per_day.append({"date": str(day), "precision": len(hits) / k, "cards": int(names.size)})
    values = [d["precision"] for d in per_day]
    return {
        "k": int(k),
        "per_day": per_day,
        "mean": float(np.mean(values)) if values else float("nan"),
    }
