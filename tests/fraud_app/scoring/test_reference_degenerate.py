"""The drift reference on degenerate training inputs (session 25 probes): a constant
feature, a constant score, a NaN-only feature, one training day. The bins were the decile
cut points alone, the lowest bin x <= e_0: for a constant feature (or score) that bin held
the whole training window AND everything below it, so a feature constant at 1.0 that was
0.0 on every row of a scored date read PSI 0 and was never flagged (a score stuck lower
too). Pure NumPy: the reference as training stores it, the counts as the scoring summary
computes them (the same `bin_counts`), the PSI as the drift page shows it."""

from __future__ import annotations

import numpy as np

from dashboards.pages.scoring import bin_labels
from dashboards.prep.drift import feature_drift, score_drift
from fraud_app.scoring.reference import bin_counts, reference_block

NAMES = ["constant", "mostly_zero", "nan_only"]


def _reference(days: int = 3):
    rng = np.random.default_rng(0)
    n = 600 * days
    X = np.c_[np.ones(n), (rng.random(n) < 0.05).astype(float), np.full(n, np.nan)]
    day = np.repeat([f"2024-01-{d + 1:02d}" for d in range(days)], 600)
    return reference_block(X, np.full(n, 0.25), day)


def _date(ref, X: np.ndarray, scores: np.ndarray) -> dict:
    edges = ref["feature_edges"]
    counts = {n: {"counts": bin_counts(X[:, j], edges[j]).tolist()} for j, n in enumerate(NAMES)}
    scored = bin_counts(scores, ref["score_edges"]).tolist()
    return {"date": "2024-02-01", "features": counts, "score_counts": scored}


def test_a_constant_feature_or_score_that_falls_is_drift() -> None:
    ref = _reference()
    flag = (np.arange(500) < 25).astype(float)  # 5 % ones, as in training
    same = _date(ref, np.c_[np.ones(500), flag, np.zeros(500)], np.full(500, 0.25))
    fell = _date(ref, np.c_[np.zeros(500), flag, np.zeros(500)], np.full(500, 0.01))
    rose = _date(ref, np.c_[np.full(500, 2.0), flag, np.zeros(500)], np.full(500, 0.9))
    table = feature_drift(ref, [same, fell, rose], NAMES)
    psi = dict(zip(table.features, table.values, strict=True))
    assert psi["constant"][0] == 0.0 and psi["constant"][1] > 10 and psi["constant"][2] > 10
    assert table.over_threshold(1) == ["constant"]  # it read 0.0 and was not flagged
    assert psi["nan_only"] == [None, None, None]  # no finite training value: not measured
    assert max(psi["mostly_zero"]) < 0.01  # its bin below 0 stays empty: PSI as before
    scores = score_drift(ref, [same, fell, rose])
    assert scores[0] == 0.0 and scores[1] > 10 and scores[2] > 10


def test_the_day_baselines_of_degenerate_features_and_one_day() -> None:
    ref = _reference()
    assert ref["feature_day_psi"][0] == 0.0 and ref["feature_day_psi"][2] is None
    assert ref["score_day_psi"] == 0.0
    one_day = _reference(days=1)
    assert one_day["feature_day_psi"] == [None, None, None] and one_day["score_day_psi"] is None


def test_the_bin_below_the_minimum_is_labelled_as_such() -> None:
    ref = _reference()
    assert bin_labels(ref["score_edges"], 3) == ["< 0.250", "0.250", "> 0.250"]
