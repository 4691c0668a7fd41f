"""PiecewiseLinear input encoding: quantile bins, the encoding's values, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.errors import ConfigError, ShapeError
from dlcore.layers import Linear, PiecewiseLinear, Sequential, Standardize, quantile_edges
from dlcore.model import Model


def test_quantile_edges_of_a_uniform_feature_are_its_quantiles() -> None:
    x = np.arange(101, dtype=np.float64).reshape(-1, 1)  # 0..100
    lower, inv_width = quantile_edges(x, 4)
    np.testing.assert_allclose(lower, [[0.0, 25.0, 50.0, 75.0]])
    np.testing.assert_allclose(inv_width, [[1 / 25] * 4])


def test_a_spike_keeps_bins_for_its_tail_and_a_constant_feature_gets_none() -> None:
    rng = np.random.default_rng(0)
    sparse = np.where(rng.random(2000) < 0.97, 0.0, rng.exponential(5.0, 2000))
    X = np.stack([sparse, np.full(2000, 3.0)], axis=1)
    lower, inv_width = quantile_edges(X, 8)
    used = inv_width[0] > 0
    # plain quantiles would give one bin [0, max]; the tail's quantiles add the others
    assert used.sum() == 8
    assert lower[0, 0] == 0.0 and np.all(np.diff(lower[0, used]) > 0)
    assert lower[0, 1] > 0.0 and lower[0, 1] <= np.quantile(sparse[sparse > 0], 0.2)
    np.testing.assert_array_equal(inv_width[1], 0.0)  # constant: every bin unused


def test_forward_keeps_the_input_and_adds_clipped_ramps() -> None:
    model = Model(Sequential([PiecewiseLinear(2), Linear(1)]), in_features=1)
    layer = model.layer.layers[0]
    layer.set_edges(np.array([[0.0, 10.0]]), np.array([[0.1, 0.0]]))  # one bin [0, 10)
    X = np.array([[-5.0], [0.0], [4.0], [10.0], [25.0]], np.float32)
    Y, _ = layer.forward(X, False)
    np.testing.assert_allclose(
        Y, [[-5, 0, 0], [0, 0, 0], [4, 0.4, 0], [10, 1, 0], [25, 1, 0]], rtol=1e-6
    )


def test_the_encoding_survives_save_and_load(tmp_path) -> None:
    from dlcore.serialization import load_model, save_model

    rng = np.random.default_rng(1)
    X = (rng.standard_normal((500, 3)) * [1, 20, 0.1]).astype(np.float32)
    model = Model(
        Sequential([Standardize(clip=5.0), PiecewiseLinear(4), Linear(8), Linear(1)]),
        in_features=3,
        seed=2,
    )
    model.layer.layers[0].set_statistics(X.mean(0), X.std(0))
    z, _ = model.layer.layers[0].forward(X, False)
    model.layer.layers[1].set_edges(*quantile_edges(z, 4))
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    np.testing.assert_array_equal(again.layer.layers[1].lower, model.layer.layers[1].lower)


def test_bad_arguments_and_states_are_rejected() -> None:
    with pytest.raises(ConfigError, match="bins must be an int"):
        PiecewiseLinear(0)
    with pytest.raises(ConfigError, match="bins must be an int"):
        quantile_edges(np.zeros((3, 1)), 0)
    with pytest.raises(ShapeError, match="non-empty 2-D"):
        quantile_edges(np.zeros((0, 2)), 4)
    model = Model(Sequential([PiecewiseLinear(2), Linear(1)]), in_features=3)
    layer = model.layer.layers[0]
    with pytest.raises(ShapeError, match=r"must have shape \(3, 2\)"):
        layer.set_edges(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ConfigError, match="inv_width >= 0"):
        layer.set_edges(np.zeros((3, 2)), -np.ones((3, 2)))


def test_layers_ahead_of_the_first_trainable_one_skip_the_input_gradient() -> None:
    """Standardize and the encoding have no parameters: nothing needs their dX, nor the dX
    of the first Linear; the parameter gradients are those of a full backward pass."""
    from dlcore.attribution import input_gradient
    from dlcore.layers import Linear, ReLU, Sequential, Standardize
    from dlcore.model import Model

    model = Model(
        Sequential([Standardize(), PiecewiseLinear(3), Linear(4), ReLU(), Linear(1)]),
        in_features=2, seed=0, dtype="float64",
    )  # fmt: skip
    rng = np.random.default_rng(0)
    model.layer.layers[1].set_edges(*quantile_edges(rng.standard_normal((200, 2)), 3))
    assert [la.needs_input_grad for la in model.layer.layers] == [False, False, False, True, True]
    X = rng.standard_normal((16, 2))
    Y, backprop = model.forward(X, training=True)
    model.params.grad[...] = 0
    assert backprop(np.ones_like(Y)) is None
    skipped = model.params.grad.copy()
    for layer in model.layer.layers:  # the same pass with every dX computed
        layer.needs_input_grad = True
    model.params.grad[...] = 0
    Y, backprop = model.forward(X, training=True)
    assert backprop(np.ones_like(Y)).shape == X.shape
    np.testing.assert_array_equal(model.params.grad, skipped)
    # attribution still reaches the input through the encoding (all layers switched on)
    for layer, flag in zip(model.layer.layers, [False, False, False, True, True], strict=True):
        layer.needs_input_grad = flag
    grad = input_gradient(model, X)
    eps = 1e-6
    step = np.array([eps, 0.0])
    numeric = (model.predict(X + step) - model.predict(X - step))[:, 0] / (2 * eps)
    np.testing.assert_allclose(grad[:, 0], numeric, rtol=1e-5, atol=1e-7)
