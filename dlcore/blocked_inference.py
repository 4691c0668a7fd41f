"""Any Model scored in fixed row blocks, so a row's outputs are the same bits in any batch.

Owns: `BlockedModel` (a model's copy for inference, bound to `RowBlockOps`) and the ops
whose forward products it runs. dlcore/inference.py gives this guarantee to the plain MLP
ensembles it fuses; this module gives it to every other model (batch norm, embeddings,
feature embeddings, nested blocks), at their own dtype.

Why: a model's plain `predict` lets NumPy's BLAS pick its routine by the batch's shape, and
the bits move with it. Measured on OpenBLAS 0.3.31 (AVX2 EPYC), float64 twins of a batch
norm MLP: 30 of 200 rows scored alone (a served request of one row) differed in the last
bit from the same rows scored in a batch (a 1-row product is a GEMV, not a GEMM), and the
output layer's (n, k) @ (k, 1) product (a GEMV again) changed with the size of the
process's environment (the stack buffer OpenBLAS's GEMV works in moves with it): the same
model and rows gave two sha256 of their scores in two processes.

How: a block of BLOCK_ROWS rows, each product A (block, k) @ W (k, n_out) in NumPy's
layout (the block's rows as BLAS's N dimension, one BLAS thread), real rows only at the
positions every product of the model computes alike (dlcore/row_blocks.py's probe, layout
"n"), padding elsewhere. A product with one output column (the output layer of a
classifier) is summed without BLAS, term by term in a fixed order over k (each row alone, elementwise: no kernel, alignment or
batch can change it); it is the smallest product of the model. Every other layer works row
by row. So a row's result depends on the row, the model and this machine's BLAS kernel, not
on the batch it arrives in, its offset, the input's alignment, the thread count or the
process's environment (tests/dlcore/test_blocked_inference.py, a second process included).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from dlcore.attribution import ensemble_attribution
from dlcore.backends import Ops
from dlcore.errors import ShapeError
from dlcore.layers.base import Layer
from dlcore.layers.linear import Linear
from dlcore.model import Model
from dlcore.row_blocks import aligned_empty, aligned_zeros, one_blas_thread, uniform_positions

BLOCK_ROWS = 1024  # rows per block: the Python work per block is most of the cost below ~1000

__all__ = ["BLOCK_ROWS", "BlockedModel", "RowBlockOps", "blocked_attribution"]


class RowBlockOps(Ops):
    """NumPy's BLAS for forward products C = A @ W, written into an aligned buffer; a
    product with one output column summed term by term in order over k, without BLAS.
    Products with a transpose (backward passes) are NumPy's, as in `Ops`."""

    name = "numpy-row-blocks"

    def gemm(self, a, b, out=None, *, trans_a=False, trans_b=False):
        if trans_a or a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype:
            return super().gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)
        if trans_b and b.shape[0] != 1:  # an input gradient dY @ W^T: NumPy's BLAS
            return super().gemm(a, b, out, trans_b=True)
        b = b.T if trans_b else b  # dY @ W^T of a layer with one input: a GEMV too
        if a.shape[1] != b.shape[0]:
            raise ShapeError(
                f"gemm: inner dimensions differ: op(a) is {a.shape}, op(b) is {b.shape}"
            )
        rows, k = a.shape
        n_out = b.shape[1]
        if out is None:
            out = aligned_empty((rows, n_out), a.dtype)
        if n_out == 1:  # a GEMV in any BLAS: summed here, term by term, in order
            at = np.ascontiguousarray(a.T)
            acc = at[0] * b[0, 0]
            for j in range(1, k):
                acc += at[j] * b[j, 0]
            out[:, 0] = acc
            return out
        return np.matmul(a, b, out=out)


def blas_products(layer: Layer, *, backward: bool = False) -> Iterator[tuple[int, int]]:
    """(n_out, k) of every Linear under `layer` whose product BLAS computes (n_out > 1);
    with `backward`, also of its input gradient dY (rows, units) @ W^T (units, in)."""
    if isinstance(layer, Linear):
        if layer.out_features > 1:
            yield layer.out_features, layer.in_features
        if backward and layer.in_features > 1:
            yield layer.in_features, layer.out_features
    for child in getattr(layer, "layers", ()):
        yield from blas_products(child, backward=backward)


def _blocks(X: np.ndarray, pos: np.ndarray, dtype) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, rows, block) for X's rows in order: one aligned BLOCK_ROWS-row buffer, reused,
    its positions `pos` holding X[start : start + rows], every other position 0 (positions a
    longer block before left are zeroed, so a block's padding never depends on history)."""
    per = len(pos)
    block = aligned_zeros((BLOCK_ROWS, X.shape[1]), dtype)
    for start in range(0, len(X), per):
        chunk = X[start : start + per]
        m = len(chunk)
        block[pos[:m]] = chunk
        if m < per:
            block[pos[m:]] = 0
        yield start, m, block


class BlockedModel:
    """`model` for inference in fixed row blocks: `predict(X)` returns `model.predict(X)`'s
    outputs (up to the last bits), each row's bits independent of its batch. Holds its own
    copy of the weights and layer state (taken at construction), in `dtype` (the model's
    own by default)."""

    def __init__(self, model: Model, dtype: str | np.dtype | type | None = None) -> None:
        dt = np.dtype(dtype) if dtype is not None else model.dtype
        self.ops = RowBlockOps()
        self.model = Model.from_config({**model.get_config(), "dtype": dt.name}, ops=self.ops)
        state = {k: np.asarray(v, dt) for k, v in model.layer.state().items()}
        self.model.load_weights(model.params.data.astype(dt), state)
        self.in_features = self.model.in_features
        self.out_features = self.model.out_features
        self.dtype = dt
        self._positions: np.ndarray | None = None

    def positions(self) -> np.ndarray:
        """The block positions that carry real rows (probed once per process and shapes)."""
        if self._positions is None:
            shapes = list(blas_products(self.model.layer))
            self._positions = uniform_positions(self.dtype, shapes, BLOCK_ROWS, layout="n")
        return self._positions

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, out_features) outputs in inference mode, in the model's dtype."""
        X = self.model._as_input(X)
        n = len(X)
        out = np.empty((n, self.out_features), dtype=self.dtype)
        if n == 0:
            return out
        pos = self.positions()
        with one_blas_thread():
            for start, m, block in _blocks(X, pos, self.dtype):
                try:
                    Y = self.model.layer.forward(block, False)[0]
                except ShapeError:
                    # an input error (an id out of range) names block positions: the plain
                    # predict names the input's rows
                    self.model.predict(X)
                    raise
                out[start : start + m] = Y[pos[:m]]
        return out


def blocked_attribution(
    scorers: Sequence[BlockedModel], X: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """dlcore.attribution.ensemble_attribution's (n, d) attribution of the scorers' models
    (their standardised and clipped input), in fixed BLOCK_ROWS-row blocks at the
    positions every forward and input-gradient product of every member computes alike:
    a row's attribution (the scoring job's reasons) is the same bits in any batch, as the
    fused plan's is (review50l: scored alone, 278-300 of 300 rows differed in the last
    bits from their batch)."""
    if not scorers:
        raise ShapeError("blocked_attribution needs at least one model")
    dt = scorers[0].dtype
    if any(s.dtype != dt for s in scorers):
        raise ShapeError(
            f"blocked_attribution: the models' dtypes differ: {[s.dtype for s in scorers]}"
        )
    models = [s.model for s in scorers]
    X = models[0]._as_input(X)
    n = len(X)
    baseline = np.asarray(baseline, dtype=np.float64).reshape(-1)
    if baseline.shape != (X.shape[1],):  # checked here: in a block it named the block's shape
        raise ShapeError(
            f"X must be (n, d) and baseline (d,). Received {X.shape} and {baseline.shape}"
        )
    attr = np.empty(X.shape, dtype=np.float64)
    if n == 0:
        return attr
    shapes = [p for m in models for p in blas_products(m.layer, backward=True)]
    pos = uniform_positions(dt, shapes, BLOCK_ROWS, layout="n")
    with one_blas_thread():
        for start, m, block in _blocks(X, pos, dt):
            try:
                _, a = ensemble_attribution(models, block, baseline)
            except ShapeError:
                for s in scorers:  # an id error names the input's rows, not block positions
                    s.predict(X)
                raise
            attr[start : start + m] = a[pos[:m]]
    return attr
