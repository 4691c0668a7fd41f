"""Fused inference for an ensemble of MLP classifiers (mean of member sigmoids).

Owns: compiling K same-shaped members, Standardize (-> GaussianNoise, the identity here)
(-> PiecewiseLinear) -> [Linear -> activation (-> Dropout)] x L -> Linear(1), into one
plan that scores them together: the shared standardisation once, all members' first
layers as ONE GEMM against their weights stacked (K * h1, d + 1; the last column is the
bias, met by a row of ones), the later layers per member into row slices of one buffer
(bias and activation then once for all members), all output layers as one GEMM against a
block-diagonal (K, K * hL). The same plan gives the input gradient of the mean
probability (the members' first-layer gradients stacked: one GEMM sums them over members).
What it reads from the members: dlcore/inference_members.py; its backward pass (the
gradient and the attribution, a mixin of FusedEnsemble): dlcore/inference_gradient.py.

Layout: a block's rows are the COLUMNS of every buffer (features x BLOCK_ROWS), so every
product is W^T @ A with the batch rows as BLAS's M dimension, all operands C-contiguous
and 64-byte aligned (weights included).

Precision: the members' own dtype (float32 for trained models). Every GEMM runs on blocks
of exactly BLOCK_ROWS columns through NumPy's BLAS (never the timed process-wide backend
choice, which can differ between processes), held at one BLAS thread while the plan runs
(dlcore/row_blocks.py `one_blas_thread`; its first hold in a process runs one larger GEMM,
`warm_blas`: without it OpenBLAS 0.3.31 ran these 256-column products 2-3.5x slower, to
the same bits, in a process that had run no larger GEMM, such as a Spark Python worker,
which doubled the scoring job's CPU seconds). BLAS picks its kernel by the shapes, which never
change, but a kernel can compute the positions of a block by different code paths
(OpenBLAS 0.3.31's Haswell sgemm: the first and last 8 of 256 columns one way, the rest
another): so real rows go only to the positions of one class, the largest one common to
every GEMM of the plan (forward and gradient), found by a probe when the plan is built
(cached per process, dtype and shape; `FusedEnsemble.positions`); the other positions
carry padding. Where every position is alike (float64 here) a block holds BLOCK_ROWS
rows; float32 on the AVX2 EPYC measured here 240 (8-247). So a row's result does not
depend on the batch it arrives in, its offset in it, the input's alignment or the
process's BLAS thread count, to the bit (tests/dlcore/test_inference.py checks them all,
and a second process): Spark batches, a pyfunc call on any number of rows and a server
give the same bits. The logits leave the plan as float64; sigmoid and the member mean
are float64.

A PiecewiseLinear input encoding right after the standardisation is part of the plan when
every member has the same standardisation and the same bins (training fits one encoding for
the whole ensemble): it is computed once per block into the first layer's input buffer,
[z; ramps(z)], elementwise, so it keeps the bit-for-bit guarantee. Only the used bins enter:
an unused bin (inv_width 0, as quantile bins leave them on features with few distinct
values) has a ramp that is always 0, so its first-layer weights are left out of the GEMM
(in a trained 50-feature demo model, 70 of 400 bins). The ramps are written in one
(used bins, block) pass per operation, feature-major as the layer orders them, with the
layer's own operations ((z - lower) * inv_width, clipped to [0, 1]), so each ramp has the
layer's bits.

`compile_ensemble` returns None for anything else (other layers, a leaky ReLU with a
negative slope, whose derivative the backward pass cannot read from its output, members that
differ in shape, dtype, their standardisation's clip, or their encoding); callers then score
member by member (model by model, outside this guarantee).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcore.errors import ShapeError
from dlcore.inference_gradient import PlanGradient
from dlcore.inference_members import (
    Act,
    Encoding,
    UsedBins,
    compatible_standardize,
    member_plan,
    same_encoding,
    same_standardize,
    stack_layer,
)
from dlcore.losses import sigmoid
from dlcore.model import Model
from dlcore.row_blocks import aligned_empty, aligned_zeros, one_blas_thread, uniform_positions

BLOCK_ROWS = 256  # fixed GEMM width (rows per block): 128-512 were within 20 %, 256 the fastest

__all__ = ["BLOCK_ROWS", "FusedEnsemble", "aligned_empty", "compile_ensemble", "mean_sigmoid"]


def compile_ensemble(models: Sequence[Model]) -> FusedEnsemble | None:
    """The fused plan of `models`, or None when they are not same-shaped plain MLPs of one
    dtype (float32 or float64)."""
    plans = [member_plan(m) for m in models]
    if not plans or any(p is None for p in plans):
        return None
    dtypes = {m.dtype for m in models}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
        return None
    stds, encs = [p[0] for p in plans], [p[1] for p in plans]
    shapes = {tuple(W.shape for W, _ in p[2]) for p in plans}
    acts = {tuple(p[3]) for p in plans}
    if len(shapes) != 1 or len(acts) != 1 or not compatible_standardize(stds):
        return None
    if not same_encoding(encs) or (encs[0] is not None and not same_standardize(stds)):
        return None
    dense = [p[2] for p in plans]
    return FusedEnsemble(stds, dense, list(plans[0][3]), dtypes.pop(), encoding=encs[0])


def _aligned_copy(a: np.ndarray, dtype) -> np.ndarray:
    out = aligned_empty(a.shape, dtype)
    out[...] = a
    return out


@dataclass(frozen=True)
class _Input:
    """One standardisation and the first-layer units it feeds (all members' when they
    share it, else one member's)."""

    mean: np.ndarray | None  # (d,) in the plan's dtype
    scale: np.ndarray | None
    W1t: np.ndarray  # (units, n_in + 1): weights, then the bias column (forward)
    W1: np.ndarray  # (n_in, units): the weights without the bias (gradient)
    rows: slice  # the units' rows of the first hidden buffer


class _Work:
    """The buffers of one call: (features, BLOCK_ROWS), 64-byte aligned, reused per block."""

    def __init__(self, plan: FusedEnsemble, grad: bool) -> None:
        B, dt, d, n = BLOCK_ROWS, plan.dtype, plan.d, plan.n_in
        self.Zb = [aligned_zeros((n + 1, B), dt) for _ in plan.inputs]  # padding stays finite
        for Zb in self.Zb:
            Zb[n] = 1
        self.H = [aligned_empty((plan.k * h, B), dt) for h in plan.widths]
        self.L = aligned_empty((plan.k, B), dt)
        self.G = [aligned_empty((plan.k * h, B), dt) for h in plan.widths] if grad else []
        self.dX = aligned_empty((d, B), dt) if grad else None
        self.dZ = aligned_empty((n, B), dt) if grad else None
        # every bin's ramp and its gradient for the ramps' input gradient; unused bins stay 0
        pruned = grad and plan.encoding is not None and n < plan.D
        self.T = np.zeros((plan.D - d, B), dt) if pruned else None
        self.dT = np.zeros((plan.D - d, B), dt) if pruned else None


class FusedEnsemble(PlanGradient):
    """Scores K members at once; see the module docstring."""

    def __init__(
        self, stds: list, dense: list, acts: list[Act], dtype, encoding: Encoding | None = None
    ) -> None:
        self.dtype = dt = np.dtype(dtype)
        self.k = len(dense)
        self.D = dense[0][0][0].shape[0]  # the first layer's inputs
        self.encoding = (
            None
            if encoding is None
            else Encoding(encoding.lower.astype(dt), encoding.inv_width.astype(dt))
        )
        # raw features: D = d * (1 + bins) with the encoding ([z, ramps(z)])
        self.d = self.D if encoding is None else self.D // (1 + encoding.bins)
        self.used = None if self.encoding is None else UsedBins.of(self.encoding)
        # the first GEMM's inputs: z and the used bins' ramps
        self.n_in = self.D if self.used is None else self.d + len(self.used.cols)
        self.widths = [W.shape[1] for W, _ in dense[0][:-1]]  # hidden widths h1..hL
        self.clip = stds[0].clip if stds[0] is not None else None
        self.inputs = self._inputs(stds, dense)
        # layers 2..L: each member's W^T (forward) and W (gradient), all members' biases
        self.middle = [
            (
                [_aligned_copy(m[j][0].T, dt) for m in dense],
                [_aligned_copy(m[j][0], dt) for m in dense],
                stack_layer(dense, j, 1, dt).reshape(-1, 1),
            )
            for j in range(1, len(dense[0]) - 1)
        ]
        self.w_out = np.stack([m[-1][0][:, 0] for m in dense]).astype(dt)  # (K, hL)
        W_out = np.zeros((self.k * self.widths[-1], self.k), dt)  # block-diagonal
        for k in range(self.k):
            W_out[self._rows(k, -1), k] = self.w_out[k]
        self.W_outt = _aligned_copy(W_out.T, dt)
        self.b_out = np.array([m[-1][1][0] for m in dense], np.float64)
        self.acts = acts
        if self.encoding is not None:
            self._inv_width = self.encoding.inv_width[:, :, None]
        # where a block's real rows go: the positions every GEMM computes alike
        self._place(uniform_positions(dt, self._gemms(), BLOCK_ROWS))

    def _place(self, positions: np.ndarray) -> None:
        """Put a block's real rows at `positions` (sorted, distinct, < BLOCK_ROWS)."""
        self.positions = np.asarray(positions, np.intp)
        self.rows_per_block = len(self.positions)
        first = int(self.positions[0])
        self._contiguous = bool(self.positions[-1] - first + 1 == len(self.positions))

    def _inputs(self, stds: list, dense: list) -> list[_Input]:
        dt, h1 = self.dtype, self.widths[0]
        W1b = np.vstack([stack_layer(dense, 0, 0, dt), stack_layer(dense, 0, 1, dt)])
        if self.used is not None:  # z, the used bins' rows, the bias
            W1b = W1b[np.r_[np.arange(self.d), self.d + self.used.cols, self.D]]
        shared = stds[0] is None or same_standardize(stds)
        parts = [(0, W1b.shape[1])] if shared else [(k * h1, (k + 1) * h1) for k in range(self.k)]
        out = []
        for k, (a, b) in enumerate(parts):
            std = stds[0 if shared else k]
            W = W1b[:, a:b]
            mean = None if std is None else std.mean.astype(dt)
            scale = None if std is None else std.scale.astype(dt)
            out.append(
                _Input(mean, scale, _aligned_copy(W.T, dt), _aligned_copy(W[:-1], dt), slice(a, b))
            )
        return out

    def _gemms(self) -> list[tuple[int, int]]:
        """(n_out, k) of every product W^T @ A of a block, forward and gradient."""
        shapes = [inp.W1t.shape for inp in self.inputs] + [inp.W1.shape for inp in self.inputs]
        for Wts, Ws, _ in self.middle:
            shapes += [Wts[0].shape, Ws[0].shape]
        return [*shapes, self.W_outt.shape]

    def _rows(self, k: int, layer: int) -> slice:
        h = self.widths[layer]
        return slice(k * h, (k + 1) * h)

    def _at(self, m: int) -> slice | np.ndarray:
        """The block positions of a block's first m rows."""
        if self._contiguous:
            first = int(self.positions[0])
            return slice(first, first + m)
        return self.positions[:m]

    # -- one block ---------------------------------------------------------------------
    def _standardize(self, Xb: np.ndarray, w: _Work) -> None:
        at, d = self._at(len(Xb)), self.d
        for inp, Zb in zip(self.inputs, w.Zb, strict=True):
            if inp.mean is None:
                Zb[:d, at] = Xb.T
                continue
            Z = np.subtract(Xb, inp.mean)
            Z /= inp.scale
            if self.clip is not None:
                np.clip(Z, -self.clip, self.clip, out=Z)
            Zb[:d, at] = Z.T
            if self.used is not None:  # PiecewiseLinear.forward for the used bins
                self.used.write(Zb[:d], Zb[d : self.n_in])

    def _block_forward(self, Xb: np.ndarray, w: _Work) -> np.ndarray:
        """(K, BLOCK_ROWS) logits (without the output bias) of one block of at most
        rows_per_block rows; every activation stays in w for the gradient."""
        self._standardize(Xb, w)
        for inp, Zb in zip(self.inputs, w.Zb, strict=True):
            np.matmul(inp.W1t, Zb, out=w.H[0][inp.rows])
        self.acts[0].apply(w.H[0])
        for j, (Wts, _, b) in enumerate(self.middle, start=1):
            for k, Wt in enumerate(Wts):
                np.matmul(Wt, w.H[j - 1][self._rows(k, j - 1)], out=w.H[j][self._rows(k, j)])
            np.add(w.H[j], b, out=w.H[j])
            self.acts[j].apply(w.H[j])
        return np.matmul(self.W_outt, w.H[-1], out=w.L)

    # -- public ------------------------------------------------------------------------
    def member_logits(self, X: np.ndarray) -> np.ndarray:
        """(n, K) float64 logits of every member."""
        X = self._check(X)
        out = np.empty((len(X), self.k))
        w, step = _Work(self, grad=False), self.rows_per_block
        with one_blas_thread():
            for i in range(0, len(X), step):
                Xb = X[i : i + step]
                out[i : i + len(Xb)] = self._block_forward(Xb, w)[:, self._at(len(Xb))].T
        out += self.b_out
        return out

    def proba(self, X: np.ndarray) -> np.ndarray:
        """(n,) mean of the members' sigmoid probabilities."""
        return mean_sigmoid(self.member_logits(X))

    def proba_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((n,) mean probability, exactly proba(X)'s; (n, d) float64 its gradient with
        respect to X)."""
        return self._proba_and(self._check(X), None)

    def proba_and_attribution(
        self, X: np.ndarray, baseline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """((n,) mean probability, exactly proba(X)'s; (n, d) float64 attribution in the
        standardised and clipped input space, or with an encoding in [z; ramps(z)] summed
        per feature, as dlcore.attribution.ensemble_attribution defines it: a feature pinned
        at the clip keeps its share, which a gradient with respect to the raw X (0 beyond
        the clip) gave nothing)."""
        return self._proba_and(self._check(X), self._baseline_inputs(baseline))

    def _proba_and(self, X: np.ndarray, zb: list | None) -> tuple[np.ndarray, np.ndarray]:
        proba = np.empty(len(X))
        grad = np.empty(X.shape)
        w, step = _Work(self, grad=True), self.rows_per_block
        with one_blas_thread():
            for i in range(0, len(X), step):
                Xb = X[i : i + step]
                m, at = len(Xb), self._at(len(Xb))
                logits = self._block_forward(Xb, w).astype(np.float64)
                logits += self.b_out[:, None]
                proba[i : i + m] = mean_sigmoid(logits[:, at].T)
                grad[i : i + m] = self._block_gradient(sigmoid(logits), w, zb)[:, at].T
        grad /= self.k
        return proba, grad

    def _check(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ShapeError(f"model expects input of shape (batch, {self.d}). Received {X.shape}")
        return np.asarray(X, dtype=self.dtype)


def mean_sigmoid(logits: np.ndarray) -> np.ndarray:
    """(n,) mean over members (columns) of sigmoid(logits), summed in member order."""
    s = sigmoid(logits)
    total = s[:, 0].copy()
    for k in range(1, s.shape[1]):
        total += s[:, k]
    return total / s.shape[1]
