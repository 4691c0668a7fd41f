"""Shared pieces of the ONNX interop tests: dlcore models of every shipped layer, graph
building with the onnx helper API, and scoring with ONNX Runtime (1 thread)."""

from __future__ import annotations

import numpy as np

from dlcore.layers import (
    BatchNorm1d,
    Dropout,
    Embedding,
    FeatureEmbedding,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Standardize,
    Tanh,
    quantile_edges,
)
from dlcore.model import Model
from fraud_app.models.builders import build_model
from fraud_app.models.config import ModelSection
from fraud_app.models.ensemble import FraudEnsemble

N_FEATURES = 5
RTOL, ATOL = 1e-5, 1e-6  # float32; atol only matters for outputs within 1e-1 of zero


def _case_layers() -> dict[str, list]:
    return {
        "linear": [Linear(6)],
        "linear_no_bias": [Linear(6, use_bias=False)],
        "relu": [Linear(6), ReLU()],
        "leaky_relu": [Linear(6), LeakyReLU(0.2)],
        "tanh": [Linear(6), Tanh()],
        "sigmoid": [Linear(6), Sigmoid()],
        "dropout": [Linear(6), Dropout(0.3), Linear(1)],
        "dropout_zero": [Linear(6), Dropout(0.0)],
        "batchnorm": [Linear(6), BatchNorm1d(momentum=0.2, eps=1e-3)],
        "standardize_clip": [Standardize(clip=1.5)],
        "standardize_no_clip": [Standardize(clip=None), Linear(3)],
        "nested_sequential": [Sequential([Linear(4), ReLU()], name="block"), Linear(1)],
    }


IMPORTABLE = sorted(_case_layers())
EMBEDDING_CASES = ["embedding", "feature_embedding", "feature_embedding_only_ids"]


def _randomize(model: Model, seed: int) -> Model:
    """Non-trivial weights and state, so every parameter matters in the comparison."""
    rng = np.random.default_rng(seed)
    model.params.data[...] = rng.normal(0.0, 0.6, model.params.size)
    state = {}
    for key, value in model.layer.state().items():
        n = value.shape
        if key.endswith(("running_var", "scale")):
            state[key] = rng.uniform(0.5, 2.0, n).astype(value.dtype)
        else:
            state[key] = rng.normal(0.0, 1.0, n).astype(value.dtype)
    if state:
        model.layer.load_state(state)
    return model


def layer_model(case: str, seed: int = 0) -> Model:
    """A model of one layer type (plus what it needs around it), random weights and state."""
    if case == "embedding":
        layer = Sequential([Embedding(9, 3), Linear(2)])
    elif case == "feature_embedding":
        layer = Sequential([FeatureEmbedding([0, 3], [5, 7], 2), ReLU(), Linear(2)])
    elif case == "feature_embedding_only_ids":
        layer = FeatureEmbedding([0, 1, 2, 3, 4], [3, 3, 4, 4, 6], 2)
    elif case == "fraud_mlp":
        cfg = ModelSection(
            hidden=(8, 4), activation="leaky_relu", batchnorm=True, dropout=0.2, encoding="none"
        )
        return _randomize(build_model(cfg, N_FEATURES, seed), seed)
    elif case == "fraud_mlp_encoded":  # Standardize -> PiecewiseLinear (quantile bins) -> MLP
        cfg = ModelSection(hidden=(8, 4), encoding="piecewise_linear", encoding_bins=4)
        model = build_model(cfg, N_FEATURES, seed)
        model.params.data[...] = np.random.default_rng(seed).normal(0.0, 0.6, model.params.size)
        X = inputs(case, rows=500, seed=seed + 7)
        std, encoding = model.layer.layers[:2]
        std.set_statistics(X.mean(0) + 0.1, X.std(0) * 0.9)
        encoding.set_edges(*quantile_edges(std.forward(X, False)[0], encoding.bins))
        return model
    elif case == "fraud_mlp_input_noise":  # Standardize -> GaussianNoise (training only) -> MLP
        cfg = ModelSection(hidden=(8, 4), encoding="none", input_noise=0.3)
        return _randomize(build_model(cfg, N_FEATURES, seed), seed)
    else:
        layer = Sequential(_case_layers()[case])
    return _randomize(Model(layer, in_features=N_FEATURES, seed=seed), seed)


def make_ensemble(members: int = 5) -> FraudEnsemble:
    models = [layer_model("fraud_mlp", seed=k) for k in range(members)]
    names = [f"f{i}" for i in range(N_FEATURES)]
    return FraudEnsemble(models, names, {"members": members, "scoring": {"threshold": 0.7}})


def inputs(case: str, rows: int = 64, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if case in EMBEDDING_CASES:
        highs = {"embedding": [9] * 5, "feature_embedding": [5, 50, 50, 7, 50]}
        high = highs.get(case, [3, 3, 4, 4, 6])
        X = np.column_stack([rng.integers(0, h, rows) for h in high]).astype(np.float32)
        if case == "feature_embedding":
            X[:, [1, 2, 4]] = rng.normal(0, 2, (rows, 3))
        return X
    return rng.normal(0.0, 2.0, (rows, N_FEATURES)).astype(np.float32)


def ort_run(proto, X: np.ndarray, output: str | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(
        proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    outs = session.run(None if output is None else [output], {name: X})
    return outs if output is None else outs[0]
