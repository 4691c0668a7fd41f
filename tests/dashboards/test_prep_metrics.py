"""Curves and the threshold table against hand-computed values (and scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from dashboards.errors import DashboardInputError
from dashboards.prep.metrics import (
    budgets_around,
    card_precision_at_k,
    pr_curve,
    roc_curve,
    score_histogram,
    threshold_table,
)

LABELS = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
DAYS = ["d1"] * 5 + ["d2"] * 5
CARDS = ["a", "b", "b", "c", "d", "a", "e", "f", "g", "h"]


def test_pr_curve_by_hand():
    c = pr_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6])
    # thresholds .9 .8 .7 .6: precision 1, 1/2, 2/3, 1/2; recall 1/2, 1/2, 1, 1
    assert c.x == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert c.y == pytest.approx([1.0, 1.0, 0.5, 2 / 3, 0.5])
    assert c.area == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert (c.rows, c.positives) == (4, 2)


def test_roc_curve_by_hand_and_ties():
    c = roc_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6])
    assert c.x == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert c.y == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert c.area == pytest.approx(0.75)  # 3 of 4 (fraud, normal) pairs ordered right
    tied = roc_curve([1, 0], [0.5, 0.5])
    assert tied.area == pytest.approx(0.5) and tied.x == [0.0, 1.0]


@pytest.mark.parametrize("labels", [[], [0, 0, 0]])
def test_pr_curve_undefined_without_frauds(labels):
    assert pr_curve(labels, [0.5] * len(labels)) is None


@pytest.mark.parametrize("labels", [[], [0, 0], [1, 1]])
def test_roc_curve_undefined_with_one_class(labels):
    assert roc_curve(labels, [0.3] * len(labels)) is None


def test_curves_match_scikit_learn_and_are_thinned():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.05).astype(int)
    s = np.clip(rng.normal(0.3 + 0.3 * y, 0.15), 0, 1).round(3)  # rounding makes ties
    pr, roc = pr_curve(y, s, max_points=100), roc_curve(y, s, max_points=100)
    assert pr.area == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert roc.area == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert len(pr.x) <= 100 and len(roc.x) <= 100
    assert (pr.x[0], roc.x[0], roc.x[-1], roc.y[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_mismatched_or_bad_labels_are_named():
    with pytest.raises(DashboardInputError, match="same length"):
        pr_curve([1, 0], [0.5])
    with pytest.raises(DashboardInputError, match="0 or 1"):
        roc_curve([2, 0], [0.5, 0.1])


def test_threshold_table_by_hand():
    # the daily budget (session 20, as evaluate and backtest): ceil(budget * 5) rows a day
    rows = threshold_table(LABELS, SCORES, DAYS, [0.2, 0.4, 0.6], card_ids=CARDS)
    r2, r4, r6 = rows
    # 0.2: one a day: d1 .9 (fraud, card a), d2 .4 (normal, card a: no fraud on d2)
    assert (r2.alerts, r2.alerts_per_day, r2.threshold) == (2, 1.0, 0.4)
    assert (r2.precision, r2.recall, r2.card_precision) == (0.5, pytest.approx(1 / 3), 0.5)
    # 0.4: d1 .9 .8 (cards a, b: both had a fraud on d1), d2 .4 .3 (a, e: none)
    assert (r4.alerts, r4.threshold, r4.precision) == (4, 0.3, 0.25)
    assert r4.recall == pytest.approx(1 / 3) and r4.card_precision == pytest.approx(0.5)
    # 0.6: d1 .9 .8 .7 (two frauds), d2 .4 .3 .2
    assert (r6.alerts, r6.alerts_per_day, r6.threshold) == (6, 3.0, 0.2)
    assert r6.precision == pytest.approx(1 / 3) and r6.recall == pytest.approx(2 / 3)


def test_threshold_table_card_precision_counts_a_null_card_id_as_one_card():
    """review50c: pandas' groupby dropped the null card's alerted rows (0.0 here, not 0.5):
    an alerted fraud of a card without an id counted for nothing."""
    for null in (None, float("nan")):
        (row,) = threshold_table([1, 0, 0], [0.9, 0.8, 0.1], ["d"] * 3, [0.5],
                                 card_ids=[null, "a", null])  # fmt: skip
        assert (row.alerts, row.card_precision) == (2, 0.5)  # the null card (fraud) and "a"


def test_threshold_table_empty_and_single_class():
    (empty,) = threshold_table([], [], [], [0.01], card_ids=[])
    assert (empty.alerts, empty.alerts_per_day) == (0, 0.0)
    assert (empty.threshold, empty.precision, empty.recall, empty.card_precision) == (None,) * 4
    (normals,) = threshold_table([0, 0, 0, 0], [0.1, 0.4, 0.3, 0.2], ["d"] * 4, [0.5])
    assert (normals.alerts, normals.threshold, normals.precision, normals.recall) == (
        2, 0.3, 0.0, None,
    )  # fmt: skip
    assert normals.card_precision is None  # no card ids given
    (frauds,) = threshold_table([1, 1, 1, 1], [0.1, 0.4, 0.3, 0.2], ["d"] * 4, [0.001])
    assert (frauds.alerts, frauds.precision, frauds.recall) == (1, 1.0, 0.25)  # at least one


def test_budgets_around():
    assert budgets_around(0.01) == [0.0025, 0.005, 0.01, 0.02, 0.04]
    assert budgets_around(0.5) == [0.125, 0.25, 0.5, 1.0]
    with pytest.raises(DashboardInputError, match=r"alert budget must be in \(0, 1\]"):
        budgets_around(0)


def test_card_precision_at_k_by_hand():
    # d1: cards by max score a .9, b .8, c .6, d .5 -> top 2 = a, b (both fraud) -> 2 / 2;
    # a and b are caught. d2: a left out; e .3, f .2, g .1, h .05 -> top 2 = e, f -> 0
    assert card_precision_at_k(LABELS, SCORES, DAYS, CARDS, 2) == [
        {"date": "d1", "precision": 1.0, "cards": 4},
        {"date": "d2", "precision": 0.0, "cards": 4},
    ]
    # k above the day's cards: still divided by k (Le Borgne et al.), the cards shown
    per_day = card_precision_at_k(LABELS, SCORES, DAYS, CARDS, 10)
    assert [(d["precision"], d["cards"]) for d in per_day] == [(0.2, 4), (0.1, 4)]
    assert card_precision_at_k([], [], [], [], 5) == []


def test_score_histogram_shares_per_class():
    h = score_histogram([0, 0, 0, 1], [0.1, 0.1, 0.9, 1.0], bins=2)
    assert h.edges == [0.0, 0.5, 1.0]
    assert h.shares == {"normal": [2 / 3, 1 / 3], "fraud": [0.0, 1.0]}
    assert score_histogram([0], [0.2], bins=2).shares["fraud"] is None


def test_thinned_curves_follow_the_whole_curve():
    """A model that ranks most frauds above every normal: the part of the curve those
    frauds make (a few hundred of many thousand thresholds) keeps its points."""
    rng = np.random.default_rng(1)
    n_normal, n_fraud = 60_000, 200
    y = np.r_[np.ones(n_fraud), np.zeros(n_normal)]
    s = np.r_[
        rng.uniform(0.9, 1.0, 160), rng.uniform(0.0, 0.5, 40), rng.uniform(0.0, 0.6, n_normal)
    ]
    for curve in (pr_curve(y, s, max_points=100), roc_curve(y, s, max_points=100)):
        x, v = np.asarray(curve.x), np.asarray(curve.y)
        assert len(x) <= 100
        gaps = np.hypot(np.diff(x), np.diff(v))
        # points every ~1/100 of the curve's length (which is < 3 in the unit square)
        assert gaps.max() < 0.05, gaps.max()
    pr = pr_curve(y, s, max_points=100)
    assert any(0.2 < r < 0.6 for r in pr.x)  # the thresholds spread evenly: none there
