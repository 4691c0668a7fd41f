"""FixedInputPredictor: Model.predict of one input, bit for bit, with the parameter-free
leading layers (standardisation, input encoding) run once while their state holds; and
EncodedRows, the same idea for the training steps of a fixed partition."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore import fixed_input
from dlcore.fixed_input import EncodedRows, FixedInputPredictor, training_prefix
from dlcore.layers import (
    Dropout,
    GaussianNoise,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sequential,
    Standardize,
)
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


def test_predictors_of_the_same_rows_and_leading_layers_share_one_encoding():
    """Early stopping builds one predictor per member on the same validation rows; members
    with the same statistics and bins encode them once."""
    X = _rows()
    first, second = _encoded_model(seed=0), _encoded_model(seed=0)
    _new_weights(second, 7)  # other weights, same leading layers
    first_calls, second_calls = _counting(first.layer.layers[1]), _counting(second.layer.layers[1])
    a = FixedInputPredictor(first, X, batch_size=BATCH).predict()
    b = FixedInputPredictor(second, X, batch_size=BATCH).predict()
    assert len(first_calls) == 5 and second_calls == []  # 300 rows in blocks of 64: once
    assert np.array_equal(a, first.predict(X, batch_size=BATCH))
    assert np.array_equal(b, second.predict(X, batch_size=BATCH))
    assert not np.array_equal(a, b)
    shared = fixed_input._SHARED[id(X)]
    # other leading layers (another standardisation) or other rows: their own encoding
    other = _encoded_model(seed=1)
    assert np.array_equal(
        FixedInputPredictor(other, X, batch_size=BATCH).predict(),
        other.predict(X, batch_size=BATCH),
    )
    Y = X.copy()
    assert np.array_equal(FixedInputPredictor(first, Y, batch_size=BATCH).predict(), a)
    assert fixed_input._SHARED[id(X)] is not shared and id(Y) in fixed_input._SHARED
    ids = (id(X), id(Y))
    del X, Y
    assert not any(i in fixed_input._SHARED for i in ids)  # released with the rows


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


# -- EncodedRows: training steps on rows encoded once ------------------------------------


def _step(model: Model, forward, X: np.ndarray, iteration: int) -> tuple[np.ndarray, np.ndarray]:
    """One training step's logits and weight gradients (Dropout reseeded per iteration,
    as the Spark worker does)."""
    for layer in model.layer.layers:
        if hasattr(layer, "reseed"):
            layer.reseed([0, 0, iteration])
    logits, backprop = forward(X)
    backprop(logits - 0.5)  # any upstream gradient
    return logits.copy(), model.params.grad.copy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_steps_on_encoded_rows_equal_the_whole_model_bit_for_bit(dtype):
    model, X = _encoded_model(dtype=dtype), _rows(300).astype(dtype)
    encoded = EncodedRows.build(model, X, batch_size=BATCH)  # blocks of 64 rows, not batches
    assert encoded is not None and encoded.rows.shape == (300, D * 5)
    rng = np.random.default_rng(3)
    for iteration in range(6):
        _new_weights(model, iteration)
        idx = rng.integers(0, len(X), 32)
        want = _step(model, lambda b: model.forward(b, training=True), X[idx], iteration)
        got = _step(model, lambda b: encoded.forward(model, b, True), encoded.rows[idx], iteration)
        assert np.array_equal(got[0], want[0])  # logits (Dropout active)
        assert np.array_equal(got[1], want[1])  # every weight gradient
        assert np.any(want[1] != 0)


def test_encoded_rows_match_only_the_same_input_and_state():
    model, X = _encoded_model(), _rows()
    encoded = EncodedRows.build(model, X)
    assert encoded.matches(model, X)
    assert not encoded.matches(model, X.copy())  # another partition's rows
    twin = _encoded_model()  # a new model object with the same state (a new stage)
    assert encoded.matches(twin, X)
    std = twin.layer.layers[0]
    std.set_statistics(std.mean + 0.5, std.scale)
    assert not encoded.matches(twin, X)


def test_no_encoded_rows_without_rowwise_leading_layers():
    X = _rows(100)
    plain = Model(Sequential([Linear(8), ReLU(), Linear(1)]), in_features=D, seed=0)
    assert training_prefix(plain) == [] and EncodedRows.build(plain, X) is None
    # input noise first: random in training, so nothing before the first Linear is fixed
    noisy = Model(Sequential([GaussianNoise(0.1), Standardize(), PiecewiseLinear(4), Linear(1)]),
                  in_features=D, seed=0)  # fmt: skip
    assert training_prefix(noisy) == []
    # noise after the standardisation: only the standardisation is encoded
    mixed = Model(Sequential([Standardize(), GaussianNoise(0.1), PiecewiseLinear(4), Linear(1)]),
                  in_features=D, seed=0)  # fmt: skip
    assert [type(x) for x in training_prefix(mixed)] == [Standardize]
    assert EncodedRows.build(mixed, X).rows.shape == (100, D)
    # above the size cap: the whole model runs per batch
    assert EncodedRows.build(_encoded_model(), X, max_cache_bytes=100 * D * 5 * 4 - 1) is None
