"""Dropout: deterministic per seed, identity at inference, expectation preserved."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.backends import make_ops
from dlcore.errors import ConfigError, NotBuiltError
from dlcore.layers import Dropout, Linear, Sequential
from dlcore.model import Model
from tests.dlcore.harness import build


def model(seed: int, rate: float = 0.5) -> Model:
    return Model(Dropout(rate), in_features=64, seed=seed, ops=make_ops("numpy"))


def test_same_seed_same_masks_different_seed_different_masks() -> None:
    X = np.ones((32, 64))
    a, b, c = model(1), model(1), model(2)
    for _ in range(3):
        ya, yb, yc = (m.forward(X)[0] for m in (a, b, c))
        np.testing.assert_array_equal(ya, yb)
        assert not np.array_equal(ya, yc)


def test_identity_at_inference() -> None:
    m = model(0)
    X = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    Y, _ = m.forward(X, training=False)
    np.testing.assert_array_equal(Y, X)
    np.testing.assert_array_equal(m.predict(X), X)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_expectation_preserved_and_rate_respected(rate: float) -> None:
    m = model(3, rate)
    X = np.full((512, 64), 2.0, dtype=np.float32)
    Y = m.forward(X)[0]
    kept = Y != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_allclose(Y[kept], 2.0 / (1 - rate), rtol=1e-4)
    assert abs(Y.mean() - 2.0) < 0.05 * 2.0 / (1 - rate) ** 0.5


def test_backprop_uses_the_forward_mask() -> None:
    layer = Dropout(0.5)
    build(layer, 16)
    X = np.random.default_rng(0).standard_normal((4, 16))
    Y, backprop = layer.forward(X, True)
    dX = backprop(np.ones_like(Y))
    np.testing.assert_array_equal(dX != 0, Y != 0)
    np.testing.assert_allclose(dX[Y != 0], 2.0)


def test_dropout_does_not_change_the_initial_weights_of_later_layers() -> None:
    ops = make_ops("numpy")
    with_dropout = Model(Sequential([Dropout(0.3), Linear(4)]), in_features=3, seed=5, ops=ops)
    without = Model(Sequential([Linear(4)]), in_features=3, seed=5, ops=ops)
    np.testing.assert_array_equal(with_dropout.params.data, without.params.data)


def test_rate_zero_is_identity_in_training() -> None:
    layer = Dropout(0.0)
    build(layer, 3)
    X = np.ones((2, 3))
    np.testing.assert_array_equal(layer.forward(X, True)[0], X)


def test_training_forward_before_initialize_is_refused() -> None:
    layer = Dropout(0.5, name="d")
    layer.declare(None, 3)
    layer.ops = make_ops("numpy")
    with pytest.raises(NotBuiltError, match="Dropout 'd' has no random stream"):
        layer.forward(np.ones((2, 3)), True)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", None, True])
def test_bad_rate_names_argument_and_value(rate) -> None:
    with pytest.raises(ConfigError, match=r"Dropout: rate must be a number in \[0, 1\). Received"):
        Dropout(rate)


def test_reseed_gives_per_worker_streams() -> None:
    X = np.ones((16, 64))
    a, b, c = model(1), model(1), model(1)
    a.layer.reseed([1, 0])
    b.layer.reseed([1, 1])
    c.layer.reseed([1, 0])
    ya, yb, yc = (m.forward(X)[0] for m in (a, b, c))
    np.testing.assert_array_equal(ya, yc)
    assert not np.array_equal(ya, yb)
    with pytest.raises(ConfigError, match=r"seed must be a non-negative int .* Received: -1"):
        a.layer.reseed(-1)
