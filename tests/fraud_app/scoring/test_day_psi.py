"""The drift reference's one-day baseline: features that differ from a window of many days
on every single day (a weekday, an encoding refreshed once a day) are not flagged as
drifted on every scored date of stationary data, and a real shift still is. Before, the
1M run's dashboards flagged 18 of 35 features on every date."""

from __future__ import annotations

import numpy as np
import pytest

from dashboards.errors import DashboardInputError
from dashboards.prep.drift import feature_drift
from fraud_app.scoring.reference import MIN_DAY_ROWS, bin_counts, day_psi, day_rows, reference_block

DAYS = 28
PER_DAY = 400


def _window(rng) -> tuple[np.ndarray, np.ndarray]:
    """Columns: weekday (calendar), a daily-refreshed encoding (one value per category a
    day, drifting slowly within a narrow band), a stationary amount."""
    days = np.repeat([f"2024-01-{d + 1:02d}" for d in range(DAYS)], PER_DAY)
    weekday = np.repeat(np.arange(DAYS) % 7, PER_DAY).astype(float)
    category = rng.integers(0, 3, DAYS * PER_DAY)
    share = np.array([0.6, 0.3, 0.1])[category] + np.repeat(rng.normal(0, 0.002, DAYS), PER_DAY)
    amount = rng.lognormal(3, 1, DAYS * PER_DAY)
    return np.c_[weekday, share, amount], days


def _scored_day(rng, weekday: int, amount_scale: float = 1.0) -> np.ndarray:
    n = 2_000
    category = rng.integers(0, 3, n)
    share = np.array([0.6, 0.3, 0.1])[category] + rng.normal(0, 0.002)
    return np.c_[np.full(n, float(weekday)), share, rng.lognormal(3, 1, n) * amount_scale]


def _date(ref: dict, X: np.ndarray, names: list[str]) -> dict:
    counts = {n: {"counts": bin_counts(X[:, j], ref["feature_edges"][j]).tolist()}
              for j, n in enumerate(names)}  # fmt: skip
    return {"date": "2024-02-01", "features": counts}


def test_calendar_and_daily_features_are_not_flagged_a_real_shift_is():
    rng = np.random.default_rng(0)
    X, days = _window(rng)
    ref = reference_block(X, rng.random(len(X)), days)
    names = ["day_of_week", "channel_freq", "amount"]
    base = ref["feature_day_psi"]
    assert base[0] > 1 and base[1] > 0.2 and base[2] < 0.1  # one day vs the window
    assert ref["score_day_psi"] is not None and ref["score_day_psi"] < 0.1
    quiet = feature_drift(ref, [_date(ref, _scored_day(rng, 5), names)], names)
    assert quiet.values[quiet.features.index("day_of_week")][0] > 0.2  # PSI alone: "drifted"
    assert quiet.over_threshold(-1) == []
    shifted = feature_drift(ref, [_date(ref, _scored_day(rng, 5, amount_scale=2.0), names)], names)
    assert shifted.over_threshold(-1) == ["amount"]


def test_without_day_baselines_the_threshold_alone_decides():
    rng = np.random.default_rng(1)
    X, _ = _window(rng)
    ref = reference_block(X, rng.random(len(X)))  # a model trained before the baseline
    assert "feature_day_psi" not in ref
    names = ["day_of_week", "channel_freq", "amount"]
    drift = feature_drift(ref, [_date(ref, _scored_day(rng, 5), names)], names)
    assert "day_of_week" in drift.over_threshold(-1)
    ref["feature_day_psi"] = [1.0]  # one entry for three features
    with pytest.raises(DashboardInputError, match="feature_day_psi has 1 entries for 3"):
        feature_drift(ref, [], names)


def test_day_psi_needs_two_days_with_enough_rows():
    values = np.arange(3 * MIN_DAY_ROWS, dtype=float)
    days = np.array(["a"] * (2 * MIN_DAY_ROWS) + ["b"] * (MIN_DAY_ROWS - 1) + ["c"])
    edges = np.quantile(values, np.linspace(0.1, 0.9, 9))
    props = bin_counts(values, edges) / values.size
    assert day_psi(values, day_rows(days), edges, props) is None  # only day "a" has enough rows
