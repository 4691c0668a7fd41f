"""PSI against hand-computed values, and the per-feature drift table."""

from __future__ import annotations

import math

import pytest

from dashboards.errors import DashboardInputError
from dashboards.prep.drift import feature_drift, psi, score_drift, shares


def test_psi_by_hand():
    # a = (.75, .25) vs e = (.5, .5): .25 ln 1.5 + (-.25) ln .5
    assert psi([0.5, 0.5], [30, 10]) == pytest.approx(0.25 * math.log(1.5) + 0.25 * math.log(2))
    assert psi([0.2, 0.3, 0.5], [2, 3, 5]) == pytest.approx(0.0)
    assert psi([2, 2], [1, 1]) == pytest.approx(0.0)  # reference renormalised


def test_psi_floors_empty_bins():
    # a = (1, 0 -> 1e-4): .5 ln 2 + (1e-4 - .5) ln(1e-4 / .5)
    expected = 0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert psi([0.5, 0.5], [10, 0]) == pytest.approx(expected)


def test_psi_undefined_when_empty_and_checked_lengths():
    assert psi([0.5, 0.5], [0, 0]) is None
    assert psi([], []) is None
    with pytest.raises(DashboardInputError, match="2 reference bins, received 3 counts"):
        psi([0.5, 0.5], [1, 2, 3])


def _date(day, counts):
    return {"date": day, "features": {k: {"counts": v} for k, v in counts.items()}}


def test_feature_drift_sorted_most_drifted_first():
    reference = {"feature_props": [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]}
    dates = [
        _date("2024-03-01", {"a": [5, 5], "b": [9, 1], "c": [5, 5]}),
        _date("2024-03-02", {"a": [7, 3], "b": [5, 5]}),  # c not scored that day
    ]
    t = feature_drift(reference, dates, ["a", "b", "c"], threshold=0.2)
    assert t.dates == ["2024-03-01", "2024-03-02"]
    assert t.features == ["b", "a", "c"]
    b, a = psi([0.5, 0.5], [9, 1]), psi([0.5, 0.5], [7, 3])
    assert t.values == [[b, 0.0], [0.0, a], [0.0, None]]
    assert t.over_threshold(0) == ["b"] and t.over_threshold(-1) == []


def test_feature_drift_ranks_and_colours_by_the_flag_level():
    # "cal" drifts more in raw PSI, but its single training days already reach 0.9 against
    # the window (a calendar feature): "amt", past its 0.2 flag level, ranks first
    reference = {"feature_props": [[0.5, 0.5], [0.5, 0.5]], "feature_day_psi": [0.9, None]}
    dates = [_date("2024-03-01", {"cal": [9, 1], "amt": [7, 3]})]
    t = feature_drift(reference, dates, ["cal", "amt"], threshold=0.1)
    cal, amt = psi([0.5, 0.5], [9, 1]), psi([0.5, 0.5], [7, 3])
    assert cal > amt > 0.1 and cal < 0.9
    assert t.features == ["amt", "cal"]
    assert t.ratios() == [[pytest.approx(amt / 0.1)], [pytest.approx(cal / 0.9)]]
    assert t.over_threshold() == ["amt"]
    for bad in (0, -0.2, float("nan"), "0.2", True):
        with pytest.raises(DashboardInputError, match="psi_threshold is .*; expected a number"):
            feature_drift(reference, dates, ["cal", "amt"], threshold=bad)


def test_feature_drift_with_no_dates_and_bad_reference():
    t = feature_drift({"feature_props": [[1.0]]}, [], ["x"])
    assert (t.dates, t.features, t.values) == ([], ["x"], [[]])
    with pytest.raises(DashboardInputError, match="feature_props has 1 entries for 2"):
        feature_drift({"feature_props": [[1.0]]}, [], ["x", "y"])


def test_score_drift_and_shares():
    ref = {"score_props": [0.5, 0.5]}
    assert score_drift(ref, [{"score_counts": [1, 1]}, {"score_counts": [0, 0]}]) == [0.0, None]
    assert shares([1, 3]) == [0.25, 0.75] and shares([0, 0]) is None
