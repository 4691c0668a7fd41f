"""Every layer through the same contract harness (tests/dlcore/harness.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from dlcore import layers
from dlcore.backends import available_backends
from dlcore.layers import (
    LAYER_REGISTRY,
    BatchNorm1d,
    Dropout,
    Embedding,
    FeatureEmbedding,
    GaussianNoise,
    LeakyReLU,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sequential,
    Sigmoid,
    Standardize,
    Tanh,
)
from tests.dlcore.harness import check_float32_forward, check_layer


def reseed_dropout(layer) -> None:
    """Same dropout mask (noise) on every forward, so finite differences see one function."""
    for child in [layer, *layer.children()]:
        if isinstance(child, Dropout | GaussianNoise):
            child.initialize(np.random.default_rng(11))


def id_inputs(num: int):
    def make(rng: np.random.Generator, batch: int, k: int) -> np.ndarray:
        return rng.integers(0, num, size=(batch, k)).astype(np.float64)

    return make


def mixed_inputs(rng: np.random.Generator, batch: int, width: int) -> np.ndarray:
    """Columns 1 and 3 hold ids (vocabularies 3 and 5); the rest are numeric."""
    X = rng.standard_normal((batch, width))
    X[:, 1] = rng.integers(0, 3, batch)
    X[:, 3] = rng.integers(0, 5, batch)
    return X


def set_bins(layer) -> None:
    """Bins away from the inputs' kinks matter little: a finite difference across an edge
    is rare with normal inputs; the last bin of feature 2 is unused (inv_width 0)."""
    lower = np.array([[-1.0, 0.0, 0.7], [-0.5, 0.25, 1.5], [0.0, 0.3, 0.0]])
    inv_width = np.array([[1.0, 1.4285, 2.0], [1.3333, 0.8, 0.5], [3.3333, 1.0, 0.0]])
    layer.set_edges(lower, inv_width)


@dataclass
class Case:
    factory: Any
    in_features: int
    kwargs: dict = field(default_factory=dict)


CASES = {
    "linear": Case(lambda: Linear(2), 3),
    "linear_no_bias": Case(lambda: Linear(3, use_bias=False), 2),
    "relu": Case(ReLU, 3),
    "leaky_relu": Case(lambda: LeakyReLU(0.1), 3),
    "tanh": Case(Tanh, 3),
    "sigmoid": Case(Sigmoid, 3),
    "dropout": Case(lambda: Dropout(0.4), 3, {"before_forward": reseed_dropout}),
    "gaussian_noise": Case(lambda: GaussianNoise(0.3), 3, {"before_forward": reseed_dropout}),
    "batchnorm": Case(lambda: BatchNorm1d(momentum=0.2), 3),
    "standardize": Case(lambda: Standardize(clip=None), 3),
    "standardize_clipped": Case(lambda: Standardize(clip=3.0), 3),
    "piecewise_linear": Case(lambda: PiecewiseLinear(3), 3, {"before_forward": set_bins}),
    "embedding": Case(
        lambda: Embedding(4, 2), 2, {"input_factory": id_inputs(4), "input_grad": False}
    ),
    "feature_embedding": Case(
        lambda: FeatureEmbedding([1, 3], [3, 5], 2),
        5,
        {"input_factory": mixed_inputs, "input_grad": False},
    ),
    "mlp": Case(
        lambda: Sequential(
            [Linear(4), BatchNorm1d(), ReLU(), Dropout(0.25), Linear(3), Tanh(), Linear(1)]
        ),
        3,
        {"before_forward": reseed_dropout},
    ),
    "embedding_mlp": Case(
        lambda: Sequential(
            [FeatureEmbedding([1, 3], [3, 5], 2), Linear(3), LeakyReLU(), Linear(1)]
        ),
        5,
        {"input_factory": mixed_inputs, "input_grad": False},
    ),
}


def test_every_exported_layer_has_a_case() -> None:
    exported = {
        name
        for name in layers.__all__
        if isinstance(getattr(layers, name), type)
        and issubclass(getattr(layers, name), layers.Layer)
        and name != "Layer"
    }
    covered = {type(case.factory()).__name__ for case in CASES.values()}
    assert exported <= covered, f"layers without a conformance case: {sorted(exported - covered)}"
    assert exported <= set(LAYER_REGISTRY)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_layer_contract(case: str) -> None:
    c = CASES[case]
    check_layer(c.factory, c.in_features, **c.kwargs)


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_float32_matches_float64_on_every_backend(case: str, backend: str) -> None:
    c = CASES[case]
    check_float32_forward(c.factory, c.in_features, backend, **c.kwargs)


def test_standardize_uses_its_statistics_and_survives_save_load(tmp_path) -> None:
    from dlcore.model import Model
    from dlcore.serialization import load_model, save_model

    model = Model(Sequential([Standardize(clip=2.0), Linear(1)]), in_features=2)
    model.layer.layers[0].set_statistics(np.array([10.0, -1.0]), np.array([2.0, 0.0]))
    Y, _ = model.layer.layers[0].forward(np.array([[12.0, 3.0], [30.0, -1.0]], np.float32), False)
    np.testing.assert_allclose(
        Y, [[1.0, 2.0], [2.0, 0.0]]
    )  # (30-10)/2=10 clipped to 2; std 0 -> centred only
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m")
    X = np.array([[11.0, 0.5]], np.float32)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
