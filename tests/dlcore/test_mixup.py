"""mixup_batch: convex combinations of rows and labels with the same weights, deterministic
for a generator, the identity for alpha 0."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.errors import ConfigError
from dlcore.training.mixup import mixup_batch


def _batch(n=64, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.random(n) < 0.3).astype(np.float32)
    w = rng.uniform(0.5, 2.0, n).astype(np.float32)
    return X, y, w


def test_rows_labels_and_weights_are_mixed_with_one_weight_per_row():
    X, y, w = _batch()
    X2, y2, w2 = mixup_batch(X, y, w, 0.4, np.random.default_rng(3))
    assert X2.dtype == X.dtype and y2.dtype == y.dtype and w2.dtype == w.dtype
    assert X2.shape == X.shape and y2.shape == y.shape
    assert np.all((y2 >= 0) & (y2 <= 1)) and not np.array_equal(y2, y)
    rng = np.random.default_rng(3)
    lam = rng.beta(0.4, 0.4, size=len(X))
    perm = rng.permutation(len(X))
    np.testing.assert_allclose(
        X2, lam[:, None] * X + (1 - lam[:, None]) * X[perm], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(y2, lam * y + (1 - lam) * y[perm], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w2, lam * w + (1 - lam) * w[perm], rtol=1e-5, atol=1e-6)


def test_same_generator_state_same_mix_and_alpha_zero_is_the_identity():
    X, y, w = _batch()
    a = mixup_batch(X, y, None, 0.2, np.random.default_rng([1, 0, 5]))
    b = mixup_batch(X, y, None, 0.2, np.random.default_rng([1, 0, 5]))
    c = mixup_batch(X, y, None, 0.2, np.random.default_rng([1, 1, 5]))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] is None and not np.array_equal(a[0], c[0])
    same = mixup_batch(X, y, w, 0.0, np.random.default_rng(0))
    assert same[0] is X and same[1] is y and same[2] is w


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), float("inf"), True])
def test_bad_alpha_is_refused(alpha):
    X, y, w = _batch()
    with pytest.raises(ConfigError, match="alpha must be a finite number >= 0"):
        mixup_batch(X, y, w, alpha, np.random.default_rng(0))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_labels_and_weights_are_mixed_as_floats(dtype):
    # probe55e: lam cast to the labels' integer dtype was 0, so y' was the partner row's
    # label (y' = y[perm]) while X was mixed by lam: a row 94 % fraud labelled 0
    X, y, w = _batch(n=32)
    yi, wi = y.astype(dtype), (w > 1).astype(dtype) + (dtype is not np.bool_)
    X2, y2, w2 = mixup_batch(X, yi, wi, 0.4, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    lam = rng.beta(0.4, 0.4, size=len(X))
    perm = rng.permutation(len(X))
    assert y2.dtype.kind == "f" and w2.dtype.kind == "f"
    yf, wf = yi.astype(np.float64), wi.astype(np.float64)
    np.testing.assert_allclose(y2, lam * yf + (1 - lam) * yf[perm], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(w2, lam * wf + (1 - lam) * wf[perm], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        X2, lam[:, None] * X + (1 - lam[:, None]) * X[perm], rtol=1e-5, atol=1e-6
    )
