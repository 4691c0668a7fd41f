"""bench/foreign_data.py (the handbook-design simulator) and bench/_handbook_features.py
(the handbook's baseline features, the named peer of bench/foreign.py): the simulator
follows its description, and every window feature equals a brute-force count. No Spark."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from _handbook_features import handbook_features  # noqa: E402
from foreign_data import COLUMNS, ForeignConfig, simulate  # noqa: E402

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulate(ForeignConfig(customers=300, terminals=600, days=60, seed=5))


def test_simulator_is_deterministic_and_in_its_own_naming(data):
    assert list(data.columns) == COLUMNS
    again = simulate(ForeignConfig(customers=300, terminals=600, days=60, seed=5))
    pd.testing.assert_frame_equal(data, again)
    other = simulate(ForeignConfig(customers=300, terminals=600, days=60, seed=6))
    assert not other["TX_AMOUNT"].equals(data["TX_AMOUNT"])
    assert pd.to_datetime(data["TX_DATETIME"], format="%Y-%m-%d %H:%M:%S").is_monotonic_increasing


def test_simulator_follows_the_scenarios(data):
    assert (data["TX_AMOUNT"] >= 0).all()
    fraud, scen = data["TX_FRAUD"], data["TX_FRAUD_SCENARIO"]
    assert ((fraud == 1) == (scen > 0)).all()
    assert set(scen.unique()) == {0, 1, 2, 3}
    # scenario 1 wins only where no later scenario overwrote it; no genuine row above 220
    assert (data.loc[scen == 0, "TX_AMOUNT"] <= 220).all()
    # times around noon: most between 06:00 and 18:00
    hour = pd.to_datetime(data["TX_DATETIME"]).dt.hour
    assert 0.6 < ((hour >= 6) & (hour < 18)).mean() < 0.95
    assert 0.002 < fraud.mean() < 0.03


def _brute(data: pd.DataFrame, row: int, key: str, lo: pd.Timedelta, hi: pd.Timedelta):
    t = pd.to_datetime(data["TX_DATETIME"])
    same = data[key] == data.at[row, key]
    inside = same & (t > t[row] - lo) & (t <= t[row] - hi)
    return data[inside]


def test_handbook_features_equal_a_brute_force_count(data):
    feats = handbook_features(data, delay_days=7)
    assert len(feats) == len(data)
    assert (feats["TRANSACTION_ID"].to_numpy() == data["TRANSACTION_ID"].to_numpy()).all()
    rng = np.random.default_rng(0)
    for row in rng.choice(len(data), 40, replace=False):
        for w in (1, 7, 30):
            c = _brute(data, row, "CUSTOMER_ID", w * DAY, pd.Timedelta(0))
            assert feats.at[row, f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] == len(c)
            assert feats.at[row, f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] == pytest.approx(
                c["TX_AMOUNT"].mean()
            )
            m = _brute(data, row, "TERMINAL_ID", (7 + w) * DAY, 7 * DAY)
            assert feats.at[row, f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] == len(m)
            risk = m["TX_FRAUD"].mean() if len(m) else 0.0
            assert feats.at[row, f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] == pytest.approx(risk)


def test_terminal_risk_never_uses_a_label_younger_than_the_delay(data):
    """Flip every label of the last 7 days before a cut-off: no terminal feature of a row
    before the cut-off changes."""
    t = pd.to_datetime(data["TX_DATETIME"])
    cut = t.min() + 40 * DAY
    flipped = data.copy()
    young = (t >= cut - 7 * DAY) & (t < cut)
    flipped.loc[young, "TX_FRAUD"] = 1 - flipped.loc[young, "TX_FRAUD"]
    a, b = handbook_features(data), handbook_features(flipped)
    before = (t < cut).to_numpy()
    cols = [c for c in a.columns if c.startswith("TERMINAL_ID_RISK")]
    pd.testing.assert_frame_equal(a.loc[before, cols], b.loc[before, cols])
    later = (t >= cut + 1 * DAY).to_numpy()
    assert not a.loc[later, cols].equals(b.loc[later, cols])
