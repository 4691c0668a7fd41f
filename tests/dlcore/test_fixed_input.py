"""FixedInputPredictor: Model.predict of one input, bit for bit, with the parameter-free
leading layers (standardisation, input encoding) run once while their state holds."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore.fixed_input import FixedInputPredictor
from dlcore.layers import Dropout, Linear, PiecewiseLinear, ReLU, Sequential, Standardize
from dlcore.layers.piecewise_linear import quantile_edges
from dlcore.model import Model

D, BATCH = 6, 64


def _encoded_model(seed: int = 0, dtype: str = "float32") -> Model:
    layers = [Standardize(clip=3.0, name="standardize"), PiecewiseLinear(4, name="encoding"),
              Linear(16), ReLU(), Dropout(0.1), Linear(8), ReLU(), Linear(1)]  # fmt: skip
    model = Model(Sequential(layers), in_features=D, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed)
    model.layer.layers[0].set_statistics(rng.standard_normal(D), rng.random(D) + 0.5)
    z, _ = model.layer.layers[0].forward(rng.standard_normal((500, D)).astype(dtype), False)
    model.layer.layers[1].set_edges(*quantile_edges(z, 4))
    return model


def _rows(n: int = 300, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, D)) * 2).astype(np.float32)


def _new_weights(model: Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model.params.set_data(rng.standard_normal(model.params.size).astype(model.dtype) * 0.3)


def _counting(layer) -> list[int]:
    """Count the calls of one layer's forward (a wrapper around the real method)."""
    calls: list[int] = []
    real = layer.forward

    def forward(X, training):
        calls.append(len(X))
        return real(X, training)

    layer.forward = forward
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_equals_model_predict_bit_for_bit_as_the_weights_change(dtype):
    model, X = _encoded_model(dtype=dtype), _rows()  # 300 rows: 4 full blocks + 44
    predictor = FixedInputPredictor(model, X, batch_size=BATCH)
    assert predictor.caches
    encoding_calls = _counting(model.layer.layers[1])
    results = []
    for seed in range(4):
        _new_weights(model, seed)
        got = predictor.predict()
        want = model.predict(X, batch_size=BATCH)
        assert got.dtype == want.dtype and got.shape == (300, 1)
        assert np.array_equal(got, want)
        results.append(got)
    assert not np.array_equal(results[0], results[1])  # the weights did change the scores
    # the encoding ran on the 5 blocks once for the predictor, and once per model.predict
    assert len(encoding_calls) == 5 + 4 * 5


def test_rebuilds_when_the_leading_layers_state_changes():
    model, X = _encoded_model(), _rows()
    predictor = FixedInputPredictor(model, X, batch_size=BATCH)
    before = predictor.predict()
    std = model.layer.layers[0]
    std.set_statistics(std.mean + 0.5, std.scale * 2)
    after = predictor.predict()
    assert np.array_equal(after, model.predict(X, batch_size=BATCH))
    assert not np.array_equal(before, after)
    enc = model.layer.layers[1]
    enc.load_state({"lower": enc.lower - 0.25, "inv_width": enc.inv_width})
    assert np.array_equal(predictor.predict(), model.predict(X, batch_size=BATCH))


def test_falls_back_to_model_predict():
    plain = Model(Sequential([Linear(8), ReLU(), Linear(1)]), in_features=D, seed=0)
    X = _rows(100)
    predictor = FixedInputPredictor(plain, X, batch_size=BATCH)
    assert not predictor.caches  # no parameter-free leading layer
    assert np.array_equal(predictor.predict(), plain.predict(X, batch_size=BATCH))

    model = _encoded_model()
    # the encoded rows take 100 * D * 5 * 4 bytes; allow less
    capped = FixedInputPredictor(model, X, batch_size=BATCH, max_cache_bytes=100 * D * 5 * 4 - 1)
    assert not capped.caches
    assert np.array_equal(capped.predict(), model.predict(X, batch_size=BATCH))


def test_empty_input():
    model = _encoded_model()
    out = FixedInputPredictor(model, np.zeros((0, D), np.float32)).predict()
    assert out.shape == (0, 1) and out.dtype == np.float32
