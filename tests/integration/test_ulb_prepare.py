"""bench/ulb.py feature preparation: the same for every contender, fitted on the fit rows only."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import ulb  # noqa: E402


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.standard_t(2, size=(n, 28)), columns=ulb.PCA)
    df["Amount"] = rng.exponential(80.0, n)
    df["Time"] = np.arange(n) * 600.0
    df["Class"] = (rng.random(n) < 0.05).astype(int)
    return df


def test_log_amount_keeps_pca_and_logs_amount():
    df = _frame()
    X, y = ulb.prepare(df, 300, "log_amount")
    assert X.shape == (400, 29) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, :28], df[ulb.PCA].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(X[:, 28], np.log1p(df["Amount"]), rtol=1e-6)
    np.testing.assert_array_equal(y, df["Class"])


def test_signed_log_keeps_sign_and_order():
    df = _frame()
    X, _ = ulb.prepare(df, 300, "signed_log")
    v = df["V1"].to_numpy()
    assert np.array_equal(np.sign(X[:, 0]), np.sign(v).astype(np.float32))
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(X[order, 0]) >= 0)
    assert np.abs(X[:, :28]).max() < np.abs(df[ulb.PCA].to_numpy()).max()


def test_quantile_is_fitted_on_the_fit_rows_only():
    df = _frame()
    X, _ = ulb.prepare(df, 300, "quantile")
    changed = df.copy()
    changed.loc[300:, ulb.PCA] *= 100.0  # later rows must not move the map
    X2, _ = ulb.prepare(changed, 300, "quantile")
    np.testing.assert_allclose(X[:300], X2[:300])
    assert abs(float(X[:300, :28].mean())) < 0.2  # roughly Gaussian on the fit rows


def test_time_of_day_adds_two_columns_and_unknown_transform_fails():
    X, _ = ulb.prepare(_frame(), 300, "log_amount", time_of_day=True)
    assert X.shape[1] == 31
    np.testing.assert_allclose(X[:, 29] ** 2 + X[:, 30] ** 2, 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown --transform 'rank'"):
        ulb.prepare(_frame(), 300, "rank")
