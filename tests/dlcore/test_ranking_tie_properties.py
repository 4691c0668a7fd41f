"""Properties of the session 50 tie rule (review50c), on generated windows of few distinct
scores: every figure is the same in any row order and equals a brute force of the rule
written from the README ("Ranking figures": ties at a daily cut-off all in, the window's
top share all in, card precision@k exactly k cards a day, tied cards by id ascending, a
null id last), including all-equal scores, days without a fraud, budgets whose
b x rows rounds to 0 alerts, and card ids of mixed types (ints, text, None, NaN)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dlcore.daily_ranking import alert_budget, alerts_for, card_precision_at_k, daily_alerts
from fraud_app.models.scores import evaluate_scores

CARDS = [3, 9, 10, 100, "a", "b", "10", None, float("nan")]
row = st.tuples(
    st.integers(0, 2),  # day
    st.sampled_from([0.0, 0.25, 0.5, 1.0]),  # few scores: ties at every cut-off
    st.integers(0, 1),  # label
    st.sampled_from(CARDS),
)
windows = st.lists(row, min_size=1, max_size=40)
budgets = st.sampled_from([0.001, 0.05, 0.3, 1.0])


def _arrays(rows):
    days = np.array([f"2024-03-0{r[0] + 1}" for r in rows], dtype=object)
    scores = np.array([r[1] for r in rows], dtype=np.float64)
    labels = np.array([r[2] for r in rows], dtype=np.float64)
    cards = np.empty(len(rows), dtype=object)
    cards[:] = [r[3] for r in rows]
    return days, scores, labels, cards


def _null(c) -> bool:
    return c is None or (isinstance(c, float) and math.isnan(c))


def _card_key(c):
    """The README's card tie order: numbers by value, then text, a null id last."""
    if _null(c):
        return (2, "")
    return (0, c, "") if isinstance(c, int | float) else (1, 0, c)


def _brute(rows, budget, k):
    alerted = np.zeros(len(rows), dtype=bool)
    for d in {r[0] for r in rows}:
        idx = [i for i, r in enumerate(rows) if r[0] == d]
        cut = sorted((rows[i][1] for i in idx), reverse=True)[alerts_for(budget, len(idx)) - 1]
        alerted[[i for i in idx if rows[i][1] >= cut]] = True
    caught, precision = set(), []
    for d in sorted({r[0] for r in rows}):
        best: dict = {}
        for r in rows:
            if r[0] == d:
                c = None if _null(r[3]) else r[3]
                s, f = best.get(c, (-1.0, 0))
                best[c] = (max(s, r[1]), max(f, r[2]))
        left = sorted((c for c in best if c not in caught),
                      key=lambda c: (-best[c][0], _card_key(c)))  # fmt: skip
        hits = [c for c in left[:k] if best[c][1]]
        caught.update(hits)
        precision.append(len(hits) / k)
    return alerted, precision


@settings(max_examples=150, deadline=None)
@given(windows, budgets, st.integers(1, 3), st.randoms(use_true_random=False))
# cards 9 and 10 tied at k = 1 beside a text id (the search seldom draws it)
@example([(0, 0.5, 1, 10), (0, 0.5, 0, 9), (0, 0.25, 0, "x")], 0.05, 1, random.Random(0))
def test_figures_follow_the_rule_in_every_row_order(rows, budget, k, rnd):
    days, scores, labels, cards = _arrays(rows)
    want_alerts, want_precision = _brute(rows, budget, k)
    p = np.array(rnd.sample(range(len(rows)), len(rows)))
    first = None
    for order in (np.arange(len(rows)), p):
        alerted = np.zeros(len(rows), dtype=bool)
        alerted[order] = daily_alerts(days[order], scores[order], budget)
        np.testing.assert_array_equal(alerted, want_alerts)
        fig = alert_budget(labels[order], scores[order], days[order], budget)
        cp = card_precision_at_k(days[order], cards[order], labels[order], scores[order], k)
        assert [d["precision"] for d in cp["per_day"]] == want_precision
        top = evaluate_scores(labels[order], scores[order], alert_rates=(0.05, 0.3))
        got = (fig, cp, top)
        assert fig["alerts"] == int(want_alerts.sum()) >= fig["quota"] >= 1
        for rate in (0.05, 0.3):  # the window's top share: its count, ties in, and its quota
            quota = min(len(rows), max(1, round(rate * len(rows))))
            cut = np.sort(scores)[::-1][quota - 1]
            assert top[f"alerts_at_alert_{rate:g}"] == int((scores >= cut).sum()) >= quota
            assert top[f"quota_at_alert_{rate:g}"] == quota
        # NaN != NaN: compare the repr of the figures (a window without a fraud)
        first = repr(got) if first is None else first
        assert repr(got) == first


def test_all_equal_scores_alert_every_row_and_say_the_quota():
    days = np.array(["d1"] * 50 + ["d2"] * 30, dtype=object)
    labels = np.zeros(80)
    labels[[3, 60]] = 1
    fig = alert_budget(labels, np.full(80, 0.4), days, 0.01)
    assert (fig["alerts"], fig["quota"], fig["recall"], fig["precision"]) == (80, 2, 1.0, 2 / 80)
    top = evaluate_scores(labels, np.full(80, 0.4), alert_rates=(0.01,))
    assert (top["recall_at_alert_0.01"], top["precision_at_alert_0.01"]) == (1.0, 2 / 80)
    assert (top["alerts_at_alert_0.01"], top["quota_at_alert_0.01"]) == (80, 1)


@pytest.mark.parametrize("other", ["x", 2.5])
def test_integer_card_ids_tie_by_value_beside_ids_of_another_type(other):
    """Cards 9 and 10 tie at k = 1: the lower id, 9, is reviewed, whatever else the day
    holds. The probe's order compared every id by (type name, repr) as soon as one did not
    compare with another: with a text id on the day, "10" < "9" and card 10 was reviewed
    (and the same two cards tied the other way on a day without text ids)."""
    days = np.array(["d"] * 3)
    cards = np.array([10, 9, other], dtype=object)
    labels = np.array([1.0, 0.0, 0.0])  # card 10's fraud: not reviewed at k = 1
    got = card_precision_at_k(days, cards, labels, np.array([0.5, 0.5, 0.1]), 1)
    assert got["per_day"][0]["precision"] == 0.0
