"""Models the fused plan does not take (batch norm, feature embeddings, nested blocks),
scored in fixed row blocks: the plain predict's outputs, and a row's bits independent of
its batch, its offset, the input's alignment and the process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dlcore.blocked_inference as blocked
from dlcore.blocked_inference import BlockedModel, RowBlockOps
from dlcore.errors import ShapeError
from dlcore.layers import (
    BatchNorm1d,
    Dropout,
    FeatureEmbedding,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Standardize,
)
from dlcore.model import Model

D = 6
REPO = Path(__file__).resolve().parents[2]


def _randomized(model: Model, seed: int) -> Model:
    rng = np.random.default_rng(seed)
    model.params.data[...] = rng.normal(0.0, 0.6, model.params.size)
    state = {}
    for key, value in model.layer.state().items():
        if key.endswith(("running_var", "scale")):
            state[key] = rng.uniform(0.5, 2.0, value.shape).astype(value.dtype)
        else:
            state[key] = rng.normal(0.0, 1.0, value.shape).astype(value.dtype)
    model.layer.load_state(state)
    return model


def batchnorm_mlp(seed: int = 0) -> Model:
    layers = [Standardize(clip=3.0), Linear(16), BatchNorm1d(), LeakyReLU(0.1), Dropout(0.2)]
    layers += [Sequential([Linear(8), ReLU()], name="block"), Linear(1)]
    return _randomized(Model(Sequential(layers), in_features=D, seed=seed), seed)


def embedding_mlp(seed: int = 0) -> Model:
    layers = [FeatureEmbedding([0, 3], [5, 7], 3), Linear(12), BatchNorm1d(), ReLU(), Linear(1)]
    return _randomized(Model(Sequential(layers), in_features=D, seed=seed), seed)


def rows(kind: str, n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 2.0, (n, D))
    if kind == "embedding":
        X[:, 0] = rng.integers(0, 5, n)
        X[:, 3] = rng.integers(0, 7, n)
    return X


MODELS = {"batchnorm": batchnorm_mlp, "embedding": embedding_mlp}


def _misaligned(X):
    raw = np.empty(X.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data % 64) + 8
    out = raw[start : start + X.nbytes].view(X.dtype).reshape(X.shape)
    out[...] = X
    return out


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_blocked_outputs_are_the_models_outputs(kind):
    model = MODELS[kind]()
    X = rows(kind, 2500)
    got = BlockedModel(model, np.float64).predict(X)
    assert got.dtype == np.float64 and got.shape == (2500, 1)
    plain = Model.from_config({**model.get_config(), "dtype": "float64"})
    state = {k: np.asarray(v, np.float64) for k, v in model.layer.state().items()}
    plain.load_weights(model.params.data.astype(np.float64), state)
    np.testing.assert_allclose(got, plain.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_row_scores_the_same_bits_in_any_batch(kind):
    """One row alone (a served request), any slice across block edges, a misaligned or
    Fortran-ordered copy: the bits of the whole batch. A plain predict of one row is a
    GEMV, not a GEMM, and gave other last bits (30 of 200 rows on OpenBLAS 0.3.31)."""
    scorer = BlockedModel(MODELS[kind](), np.float64)
    X = rows(kind, blocked.BLOCK_ROWS + 300)
    whole = scorer.predict(X)
    for i in range(0, 200):
        np.testing.assert_array_equal(scorer.predict(X[i : i + 1]), whole[i : i + 1])
    n = len(X)
    for sl in (slice(1, 2), slice(7, n), slice(blocked.BLOCK_ROWS - 5, n), slice(33, 901)):
        for part in (X[sl], _misaligned(X[sl]), np.asfortranarray(X[sl])):
            np.testing.assert_array_equal(scorer.predict(part), whole[sl])


def test_the_output_column_is_summed_without_blas():
    """The 1-wide product (the output layer: a GEMV in BLAS) is summed term by term in
    order: the same values as matmul up to rounding, and per row the bits of the row
    alone."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((300, 19))
    w = rng.standard_normal((19, 1))
    got = RowBlockOps().gemm(A, w)
    np.testing.assert_allclose(got, A @ w, rtol=1e-12, atol=1e-12)
    expected = A[:, 0] * w[0, 0]
    for j in range(1, 19):
        expected = expected + A[:, j] * w[j, 0]
    np.testing.assert_array_equal(got[:, 0], expected)
    np.testing.assert_array_equal(RowBlockOps().gemm(A[17:18], w), got[17:18])
    out = np.empty((300, 1))
    assert RowBlockOps().gemm(A, w, out=out) is out
    np.testing.assert_array_equal(out, got)
    with pytest.raises(ShapeError, match="inner dimensions differ"):
        RowBlockOps().gemm(A, rng.standard_normal((18, 1)))


def test_no_rows_and_a_wrong_width():
    scorer = BlockedModel(batchnorm_mlp(), np.float64)
    assert scorer.predict(np.zeros((0, D))).shape == (0, 1)
    with pytest.raises(ShapeError, match=rf"\(batch, {D}\)"):
        scorer.predict(np.zeros((3, D + 1)))


def test_an_id_error_names_the_inputs_rows_not_block_positions():
    scorer = BlockedModel(embedding_mlp(), np.float64)
    X = rows("embedding", blocked.BLOCK_ROWS + 50)
    X[blocked.BLOCK_ROWS + 7, 3] = 9  # ids of feature 3 are < 7
    with pytest.raises(ShapeError) as err:
        scorer.predict(X)
    assert str(blocked.BLOCK_ROWS + 7) in str(err.value)


def test_the_scorer_holds_its_own_weights():
    model = batchnorm_mlp()
    X = rows("batchnorm", 50)
    scorer = BlockedModel(model, np.float64)
    before = scorer.predict(X)
    model.params.data[...] = 0.0
    np.testing.assert_array_equal(scorer.predict(X), before)


def test_a_process_with_another_environment_scores_the_same_bits(tmp_path):
    """The output layer's GEMV changed its last bits with the size of the process's
    environment (OpenBLAS works in a stack buffer): two environments, one hash."""
    X = rows("batchnorm", 1500)
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(f"""
        import hashlib, numpy as np
        from dlcore.blocked_inference import BlockedModel
        from tests.dlcore.test_blocked_inference import batchnorm_mlp
        X = np.load({str(tmp_path / "X.npy")!r})
        out = BlockedModel(batchnorm_mlp(), np.float64).predict(X)
        print(hashlib.sha256(out.tobytes()).hexdigest())
    """)
    hashes = set()
    for pad in (0, 8, 24, 1500):
        env = {**os.environ, "PYTHONPATH": str(REPO), "DLCORE_TEST_PAD": "x" * pad}
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        hashes.add(proc.stdout.strip())
    here = BlockedModel(batchnorm_mlp(), np.float64).predict(X)
    assert hashes == {hashlib.sha256(here.tobytes()).hexdigest()}


def test_an_input_gradient_through_a_one_input_layer_is_summed_without_blas():
    """dY (rows, units) @ W^T (units, 1), the input gradient of a Linear with one input
    (a Linear(1) in the middle of a model), is a GEMV in BLAS too: the blocked attribution
    sums it term by term in order, as the forward output column (review50l)."""
    rng = np.random.default_rng(6)
    dY = rng.standard_normal((300, 23))
    W = rng.standard_normal((1, 23))
    got = RowBlockOps().gemm(dY, W, trans_b=True)
    expected = dY[:, 0] * W[0, 0]
    for j in range(1, 23):
        expected = expected + dY[:, j] * W[0, j]
    np.testing.assert_array_equal(got[:, 0], expected)
    np.testing.assert_allclose(got, dY @ W.T, rtol=1e-12, atol=1e-12)
    wide = rng.standard_normal((4, 23))  # more than one input: NumPy's product
    np.testing.assert_array_equal(RowBlockOps().gemm(dY, wide, trans_b=True), dY @ wide.T)
