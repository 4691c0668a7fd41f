"""Activations against closed forms; stability; float32 preserved; bad arguments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dlcore.errors import ConfigError, ShapeError
from dlcore.layers import LeakyReLU, ReLU, Sigmoid, Tanh, layer_from_config
from dlcore.losses import sigmoid
from tests.dlcore.harness import build

X = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])


def run(layer, X, training=True, dtype="float64"):
    build(layer, X.shape[1], dtype=dtype)
    Y, backprop = layer.forward(X.astype(dtype), training)
    return Y, backprop(np.ones_like(Y))


@pytest.mark.parametrize("training", [True, False])
def test_relu_values_and_derivative_at_zero_is_zero(training: bool) -> None:
    Y, dX = run(ReLU(), X, training)
    np.testing.assert_array_equal(Y, [[0.0, 0.0, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(dX, [[0.0, 0.0, 0.0, 1.0, 1.0]])


def test_leaky_relu_values() -> None:
    Y, dX = run(LeakyReLU(0.1), X)
    np.testing.assert_allclose(Y, [[-0.2, -0.05, 0.0, 0.5, 3.0]])
    np.testing.assert_allclose(dX, [[0.1, 0.1, 0.1, 1.0, 1.0]])


def test_leaky_relu_accepts_a_slope_above_one() -> None:
    Y, _ = run(LeakyReLU(2.0), X)
    np.testing.assert_allclose(Y, [[-4.0, -1.0, 0.0, 0.5, 3.0]])


def test_tanh_and_sigmoid_closed_forms() -> None:
    Y, dX = run(Tanh(), X)
    np.testing.assert_allclose(Y, np.tanh(X))
    np.testing.assert_allclose(dX, 1 / np.cosh(X) ** 2)
    Y, dX = run(Sigmoid(), X)
    np.testing.assert_allclose(Y, 1 / (1 + np.exp(-X)))
    np.testing.assert_allclose(dX, np.exp(-X) / (1 + np.exp(-X)) ** 2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_is_finite_and_accurate_for_huge_inputs(dtype: str) -> None:
    x = np.array([-1e4, -80.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        s = sigmoid(x)
    assert s.dtype == np.dtype(dtype)
    expected = np.array([0.0, np.exp(-80.0), np.exp(-30.0), 0.5, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(s, expected, rtol=1e-6)  # relative: tiny values stay accurate
    assert s[2] > 0


@pytest.mark.parametrize("layer", [ReLU, lambda: LeakyReLU(0.2), Tanh, Sigmoid])
def test_float32_stays_float32_through_forward_and_backward(layer) -> None:
    Y, dX = run(layer(), np.linspace(-3, 3, 12).reshape(3, 4), dtype="float32")
    assert Y.dtype == np.float32 and dX.dtype == np.float32


def test_activations_with_no_input_grad_return_none() -> None:
    for layer in (ReLU(), LeakyReLU(), Tanh(), Sigmoid()):
        build(layer, 2, needs_input_grad=False)
        _, backprop = layer.forward(np.ones((3, 2)), True)
        assert backprop(np.ones((3, 2))) is None


def test_wrong_input_width_names_the_expected_shape() -> None:
    layer = ReLU()
    build(layer, 4)
    with pytest.raises(ShapeError, match=r"expects input of shape \(batch, 4\). Received \(2, 3\)"):
        layer.forward(np.ones((2, 3)), True)


@pytest.mark.parametrize("slope", [float("nan"), float("inf"), "0.1", None, True])
def test_leaky_relu_rejects_bad_slope(slope) -> None:
    with pytest.raises(ConfigError, match=r"negative_slope must be a finite number. Received"):
        LeakyReLU(slope)


def test_leaky_relu_config_keeps_slope() -> None:
    clone = layer_from_config({"type": "LeakyReLU", "config": {"negative_slope": 0.3}})
    assert clone.negative_slope == 0.3
    with pytest.raises(ConfigError, match="invalid config for layer LeakyReLU"):
        layer_from_config({"type": "LeakyReLU", "config": {"slope": 0.3}})
