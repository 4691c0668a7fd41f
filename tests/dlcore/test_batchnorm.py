"""BatchNorm1d: batch statistics in training, running statistics at inference (PyTorch rules)."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.backends import make_ops
from dlcore.errors import ConfigError, ShapeError
from dlcore.layers import BatchNorm1d
from dlcore.model import Model
from tests.dlcore.harness import build


def fresh(momentum: float = 0.1) -> BatchNorm1d:
    layer = BatchNorm1d(momentum=momentum)
    build(layer, 3, jitter=False)  # gamma = 1, beta = 0, running mean 0 / var 1
    return layer


X = np.random.default_rng(0).normal(loc=[1.0, -2.0, 5.0], scale=[0.5, 2.0, 3.0], size=(64, 3))


def test_training_output_is_standardised_per_feature() -> None:
    Y, _ = fresh().forward(X, True)
    np.testing.assert_allclose(Y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Y.var(axis=0), X.var(axis=0) / (X.var(axis=0) + 1e-5), rtol=1e-12)


def test_running_stats_follow_pytorch_update_rule() -> None:
    layer = fresh(momentum=0.2)
    layer.forward(X, True)
    layer.forward(X[:10], True)
    mean = 0.8 * (0.8 * 0.0 + 0.2 * X.mean(0)) + 0.2 * X[:10].mean(0)
    var = 0.8 * (0.8 * 1.0 + 0.2 * X.var(0, ddof=1)) + 0.2 * X[:10].var(0, ddof=1)
    np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)


def test_inference_uses_running_stats_and_does_not_update_them() -> None:
    layer = fresh()
    layer.gamma[...] = [1.0, 2.0, 0.5]
    layer.beta[...] = [0.0, 1.0, -1.0]
    layer.load_state({"running_mean": np.array([1.0, 2.0, 3.0]), "running_var": np.full(3, 4.0)})
    Y, _ = layer.forward(X, False)
    expected = (X - [1.0, 2.0, 3.0]) / np.sqrt(4.0 + 1e-5) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]
    np.testing.assert_allclose(Y, expected, rtol=1e-12)
    np.testing.assert_array_equal(layer.running_mean, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(layer.state()["running_var"], np.full(3, 4.0))


def test_model_predict_is_batch_independent_after_training() -> None:
    model = Model(BatchNorm1d(), in_features=3, seed=0, ops=make_ops("numpy"))
    for _ in range(5):
        model.forward(X, training=True)
    one_by_one = np.concatenate([model.predict(X[i : i + 1]) for i in range(4)])
    np.testing.assert_allclose(one_by_one, model.predict(X[:4]), rtol=1e-6)


def test_state_is_float32_in_a_float32_model() -> None:
    model = Model(BatchNorm1d(), in_features=3, ops=make_ops("numpy"))
    Y, _ = model.forward(X, training=True)
    assert Y.dtype == np.float32
    assert {v.dtype for v in model.layer.state().values()} == {np.dtype(np.float32)}


def test_batch_of_one_is_refused_in_training() -> None:
    with pytest.raises(ShapeError, match="at least 2 rows per batch.*Received a batch of 1"):
        fresh().forward(X[:1], True)


def test_load_state_validates_keys_and_shapes() -> None:
    layer = fresh()
    with pytest.raises(ConfigError, match=r"state needs keys \['running_mean', 'running_var'\]"):
        layer.load_state({"running_mean": np.zeros(3)})
    with pytest.raises(ShapeError, match=r"state\['running_mean'\] must have shape \(3,\). "):
        layer.load_state({"running_mean": np.zeros(4), "running_var": np.ones(3)})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"momentum": 0.0}, r"momentum must be a number in \(0, 1.0\]. Received: 0.0"),
        ({"momentum": 1.5}, r"momentum must be a number in \(0, 1.0\]. Received: 1.5"),
        ({"eps": -1e-5}, r"eps must be a number in \(0, 1.0\]. Received: -1e-05"),
        ({"eps": "1e-5"}, r"eps must be a number in \(0, 1.0\]. Received: '1e-5'"),
    ],
)
def test_bad_arguments_name_argument_and_value(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BatchNorm1d(**kwargs)
