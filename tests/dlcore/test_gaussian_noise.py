"""GaussianNoise: deterministic per seed, identity at inference, the noise's moments, and a
stream apart from Dropout's for the same reseed."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.backends import make_ops
from dlcore.errors import ConfigError, NotBuiltError
from dlcore.layers import Dropout, GaussianNoise, Linear, Sequential
from dlcore.model import Model
from tests.dlcore.harness import build


def model(seed: int, stddev: float = 0.5) -> Model:
    return Model(GaussianNoise(stddev), in_features=64, seed=seed, ops=make_ops("numpy"))


def test_same_seed_same_noise_different_seed_different_noise() -> None:
    X = np.zeros((32, 64), np.float32)
    a, b, c = model(1), model(1), model(2)
    for _ in range(3):
        ya, yb, yc = (m.forward(X)[0] for m in (a, b, c))
        np.testing.assert_array_equal(ya, yb)
        assert not np.array_equal(ya, yc)


def test_identity_at_inference_and_with_stddev_zero() -> None:
    X = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    m = model(0)
    np.testing.assert_array_equal(m.forward(X, training=False)[0], X)
    np.testing.assert_array_equal(m.predict(X), X)
    np.testing.assert_array_equal(model(0, 0.0).forward(X, training=True)[0], X)


@pytest.mark.parametrize("stddev", [0.1, 0.5, 2.0])
def test_noise_is_zero_mean_with_the_given_stddev(stddev: float) -> None:
    X = np.full((512, 64), 3.0, dtype=np.float32)
    Y = model(4, stddev).forward(X)[0]
    assert Y.dtype == np.float32
    noise = Y - X
    assert abs(noise.mean()) < 0.01 * stddev * 4
    assert abs(noise.std() / stddev - 1.0) < 0.02


def test_backprop_is_the_identity() -> None:
    layer = GaussianNoise(0.5)
    build(layer, 16)
    X = np.random.default_rng(0).standard_normal((4, 16))
    Y, backprop = layer.forward(X, True)
    assert not np.array_equal(Y, X)
    dY = np.random.default_rng(1).standard_normal(Y.shape)
    np.testing.assert_array_equal(backprop(dY), dY)


def test_noise_does_not_change_the_initial_weights_of_later_layers() -> None:
    ops = make_ops("numpy")
    noisy = Model(Sequential([GaussianNoise(0.3), Linear(4)]), in_features=3, seed=5, ops=ops)
    plain = Model(Sequential([Linear(4)]), in_features=3, seed=5, ops=ops)
    np.testing.assert_array_equal(noisy.params.data, plain.params.data)


def test_reseed_gives_per_worker_streams_apart_from_dropout() -> None:
    X = np.zeros((16, 64), np.float32)
    a, b, c = model(1), model(1), model(1)
    a.layer.reseed([1, 0, 7])
    b.layer.reseed([1, 1, 7])
    c.layer.reseed([1, 0, 7])
    ya, yb, yc = (m.forward(X)[0] for m in (a, b, c))
    np.testing.assert_array_equal(ya, yc)
    assert not np.array_equal(ya, yb)
    # A Dropout reseeded with the same seed draws from another stream: its kept units do not
    # follow the noise's signs (they would if both read the same bits).
    drop = Model(Dropout(0.5), in_features=64, seed=1, ops=make_ops("numpy"))
    drop.layer.reseed([1, 0, 7])
    kept = drop.forward(np.ones((16, 64), np.float32))[0] != 0
    assert 0.4 < (kept == (ya > 0)).mean() < 0.6
    with pytest.raises(ConfigError, match=r"seed must be a non-negative int .* Received: -1"):
        a.layer.reseed(-1)


def test_training_forward_before_initialize_is_refused() -> None:
    layer = GaussianNoise(0.5, name="n")
    layer.declare(None, 3)
    layer.ops = make_ops("numpy")
    with pytest.raises(NotBuiltError, match="GaussianNoise 'n' has no random stream"):
        layer.forward(np.ones((2, 3)), True)


@pytest.mark.parametrize("stddev", [-0.1, float("nan"), float("inf"), "0.5", None, True])
def test_bad_stddev_names_argument_and_value(stddev) -> None:
    with pytest.raises(ConfigError, match=r"GaussianNoise: stddev must be a finite number >= 0"):
        GaussianNoise(stddev)
