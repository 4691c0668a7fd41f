"""Fused inference for an ensemble of MLP classifiers (mean of member sigmoids).

Owns: compiling K same-shaped members, Standardize (-> GaussianNoise, the identity here)
(-> PiecewiseLinear) -> [Linear ->
activation (-> Dropout)] x L -> Linear(1), into one plan that scores them together: the shared standardisation
once, all members' first layers as ONE GEMM against their weights stacked side by side
(d + 1, K * h1; the last row is the bias, met by a ones column), the later layers per
member into column slices of one buffer (bias and activation then once for all members),
all output layers as one GEMM against a block-diagonal (K * hL, K). The same plan gives
the input gradient of the mean probability (the members' first-layer gradients side by
side: one GEMM against the stacked weights sums them over members).

Precision: the members' own dtype (float32 for trained models). Every GEMM runs on blocks
of exactly BLOCK_ROWS rows (the last block padded with zero rows) in 64-byte aligned
buffers, through NumPy's BLAS (never the timed process-wide backend choice, which can
differ between processes). BLAS picks its kernel by the matrix shapes, and the shapes
never change, so where the kernel computes every row of a block alike
(`blas_rows_uniform()`: OpenBLAS's AVX-512 kernels on the Zen 4 and Sapphire Rapids
machines measured here) a row's result does not depend on the batch it arrives in, its
offset in it, the input's alignment or the BLAS thread count, to the bit
(tests/dlcore/test_inference.py checks all four, and a second process): Spark batches,
a pyfunc call on any number of rows and a server give the same bits. Not everywhere:
OpenBLAS 0.3.31's Haswell sgemm (AVX2, e.g. AMD EPYC family 23) computes the rows of a
block in groups of 12 whose two halves round differently (and the last 4 rows of 256 a
third way), so there a row scored at another offset differs in its last float32 bits
(~4e-7 relative on a logit; the tests then check that tolerance). Exact rows on such a
kernel would need rows placed only at the positions of one class (half the block there)
or another GEMM layout: not done. The logits leave the plan as float64; sigmoid and the
member mean are float64.

A PiecewiseLinear input encoding right after the standardisation is part of the plan when
every member has the same standardisation and the same bins (training fits one encoding for
the whole ensemble): it is computed once per block into the first layer's input buffer,
[z, ramps(z)], elementwise, so it keeps the bit-for-bit guarantee. Only the used bins enter:
an unused bin (inv_width 0, as quantile bins leave them on features with few distinct
values) has a ramp that is always 0, so its first-layer rows are left out of the GEMM (in
a trained 50-feature demo model, 70 of 400 bins). The ramps are written in one flat
(rows, used bins) pass per operation, feature-major as the layer orders them, with the
layer's own operations ((z - lower) * inv_width, clipped to [0, 1]), so each ramp has the
layer's bits.

`compile_ensemble` returns None for anything else (other layers, members that differ in
shape, dtype, their standardisation's clip, or their encoding); callers then score member
by member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcore import settings
from dlcore.backends.ops import Ops
from dlcore.errors import ShapeError
from dlcore.layers.activations import LeakyReLU, ReLU, Tanh
from dlcore.layers.dropout import Dropout
from dlcore.layers.gaussian_noise import GaussianNoise
from dlcore.layers.linear import Linear
from dlcore.layers.piecewise_linear import PiecewiseLinear, ramps_input_grad
from dlcore.layers.sequential import Sequential
from dlcore.layers.standardize import Standardize
from dlcore.losses import sigmoid
from dlcore.model import Model

BLOCK_ROWS = 256  # fixed GEMM height: 128-512 were within 20 % here, 256 the fastest
_ALIGN = 64
_THREADS_SET = False


def _limit_numpy_blas() -> None:
    """NumPy's BLAS to DLCORE_NUM_THREADS (default 1: one thread per Spark task), once per
    process: the timed backend choice limits only the backend it picks, and Python
    workers of a local Spark inherit no thread limit."""
    global _THREADS_SET
    if not _THREADS_SET:
        Ops().set_num_threads(settings.num_threads())
        _THREADS_SET = True


def blas_rows_uniform() -> bool:
    """Whether NumPy's BLAS, at its current thread count, computes every row of a
    BLOCK_ROWS-row float32 GEMM alike: the same input row at every position of a block
    gives the same bits (module docstring). A probe of a few microseconds."""
    _limit_numpy_blas()
    rng = np.random.default_rng(0)
    W = rng.standard_normal((64, 96)).astype(np.float32)
    A = aligned_empty((BLOCK_ROWS, 64), np.float32)
    A[:] = rng.standard_normal(64).astype(np.float32)
    C = A @ W
    return bool(np.all(C[0] == C))


@dataclass(frozen=True)
class _Act:
    kind: str  # "relu" | "leaky_relu" | "tanh"
    slope: float = 0.0

    def apply(self, H: np.ndarray) -> None:
        if self.kind == "relu":
            np.maximum(H, 0, out=H)
        elif self.kind == "leaky_relu":
            np.multiply(H, np.where(H > 0, H.dtype.type(1), H.dtype.type(self.slope)), out=H)
        else:
            np.tanh(H, out=H)

    def derivative(self, Y: np.ndarray) -> np.ndarray:
        """d act / d input, from the activation's OUTPUT Y (all three allow it)."""
        if self.kind == "relu":
            return Y > 0
        if self.kind == "leaky_relu":
            return np.where(Y > 0, Y.dtype.type(1), Y.dtype.type(self.slope))
        return 1 - Y * Y


def _activation(layer) -> _Act | None:
    if type(layer) is ReLU:
        return _Act("relu")
    if type(layer) is LeakyReLU:
        return _Act("leaky_relu", layer.negative_slope)
    if type(layer) is Tanh:
        return _Act("tanh")
    return None


@dataclass(frozen=True)
class _Encoding:
    """A PiecewiseLinear's bins: (d, bins) lower edges and inverse widths."""

    lower: np.ndarray
    inv_width: np.ndarray

    @property
    def bins(self) -> int:
        return self.lower.shape[1]


@dataclass(frozen=True)
class _UsedBins:
    """The bins the plan computes (inv_width > 0), flat and feature-major: their index in
    the layer's d * bins ramp columns, their feature, lower edge and inverse width."""

    cols: np.ndarray  # (u,) intp
    feature: np.ndarray  # (u,) intp
    lower: np.ndarray  # (u,) in the plan's dtype
    inv_width: np.ndarray

    @classmethod
    def of(cls, enc: _Encoding) -> _UsedBins:
        cols = np.flatnonzero(enc.inv_width.reshape(-1) > 0)
        return cls(
            cols,
            cols // enc.bins,
            enc.lower.reshape(-1)[cols].copy(),
            enc.inv_width.reshape(-1)[cols].copy(),
        )

    def write(self, Z: np.ndarray, out: np.ndarray) -> None:
        """out (n, u) = clip((Z[:, feature] - lower) * inv_width, 0, 1), write_ramps's
        operations on the used bins."""
        np.take(Z, self.feature, axis=1, out=out, mode="clip")
        np.subtract(out, self.lower, out=out)
        out *= self.inv_width
        np.clip(out, 0.0, 1.0, out=out)


def _member_plan(model: Model):
    """(Standardize or None, _Encoding or None, [(W, b)], [act]) of one member, or None if
    it is not a plain MLP (with an optional encoding right after its Standardize)."""
    if type(model.layer) is not Sequential or model.out_features != 1:
        return None
    layers = [la for la in model.layer.layers if type(la) not in (Dropout, GaussianNoise)]
    std = layers.pop(0) if layers and type(layers[0]) is Standardize else None
    enc = None
    if std is not None and layers and type(layers[0]) is PiecewiseLinear:
        layer = layers.pop(0)
        enc = _Encoding(np.array(layer.lower), np.array(layer.inv_width))
    dense, acts = [], []
    for i, layer in enumerate(layers):
        want_linear = i % 2 == 0
        if want_linear:
            if type(layer) is not Linear:
                return None
            b = layer.b if layer.use_bias else np.zeros(layer.units)
            dense.append((np.array(layer.W), np.array(b)))
        else:
            act = _activation(layer)
            if act is None:
                return None
            acts.append(act)
    if len(dense) < 2 or len(acts) != len(dense) - 1:
        return None
    return std, enc, dense, acts


def _same_encoding(encs: list) -> bool:
    first = encs[0]
    if first is None:
        return all(e is None for e in encs)
    return all(
        e is not None
        and np.array_equal(e.lower, first.lower)
        and np.array_equal(e.inv_width, first.inv_width)
        for e in encs
    )


def _same_standardize(stds: list) -> bool:
    first = stds[0]
    return all(
        s is not None
        and s.clip == first.clip
        and np.array_equal(s.mean, first.mean)
        and np.array_equal(s.scale, first.scale)
        for s in stds
    )


def _compatible_standardize(stds: list) -> bool:
    if stds[0] is None:
        return all(s is None for s in stds)
    return all(s is not None and s.clip == stds[0].clip for s in stds)


def compile_ensemble(models: Sequence[Model]) -> FusedEnsemble | None:
    """The fused plan of `models`, or None when they are not same-shaped plain MLPs of one
    dtype (float32 or float64)."""
    plans = [_member_plan(m) for m in models]
    if not plans or any(p is None for p in plans):
        return None
    dtypes = {m.dtype for m in models}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
        return None
    stds, encs = [p[0] for p in plans], [p[1] for p in plans]
    shapes = {tuple(W.shape for W, _ in p[2]) for p in plans}
    acts = {tuple(p[3]) for p in plans}
    if len(shapes) != 1 or len(acts) != 1 or not _compatible_standardize(stds):
        return None
    if not _same_encoding(encs) or (encs[0] is not None and not _same_standardize(stds)):
        return None
    dense = [p[2] for p in plans]
    return FusedEnsemble(stds, dense, list(plans[0][3]), dtypes.pop(), encoding=encs[0])


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    return raw[start : start + nbytes].view(dtype).reshape(shape)


@dataclass(frozen=True)
class _Input:
    """One standardisation and the first-layer columns it feeds (all members when they
    share it, else one member's)."""

    mean: np.ndarray | None  # (d,) in the plan's dtype
    scale: np.ndarray | None
    W1b: np.ndarray  # (d + 1, columns): weights, then the bias row
    cols: slice


class _Work:
    """The buffers of one call: BLOCK_ROWS rows each, 64-byte aligned, reused per block."""

    def __init__(self, plan: FusedEnsemble, grad: bool) -> None:
        B, dt, d, n = BLOCK_ROWS, plan.dtype, plan.d, plan.n_in
        self.Zb = [aligned_empty((B, n + 1), dt) for _ in plan.inputs]
        for Zb in self.Zb:
            Zb[:, n] = 1
        # the used bins' ramps, contiguous: written here, then copied into Zb once (the
        # elementwise passes on Zb's strided columns cost 1.6x as much: 321 vs 200 us a block)
        self.E = None if plan.encoding is None else aligned_empty((B, n - d), dt)
        self.H = [aligned_empty((B, plan.k * h), dt) for h in plan.widths]
        self.L = aligned_empty((B, plan.k), dt)
        self.G = [aligned_empty((B, plan.k * h), dt) for h in plan.widths] if grad else []
        self.dX = aligned_empty((B, d), dt) if grad else None
        encoded = grad and plan.encoding is not None
        self.dZ = aligned_empty((B, n), dt) if encoded else None
        # every bin's ramp and its gradient for ramps_input_grad; unused bins stay 0
        pruned = encoded and n < plan.D
        self.T = np.zeros((B, plan.D - d), dt) if pruned else None
        self.dT = np.zeros((B, plan.D - d), dt) if pruned else None


class FusedEnsemble:
    """Scores K members at once; see the module docstring."""

    def __init__(
        self, stds: list, dense: list, acts: list[_Act], dtype, encoding: _Encoding | None = None
    ) -> None:
        self.dtype = dt = np.dtype(dtype)
        self.k = len(dense)
        self.D = dense[0][0][0].shape[0]  # the first layer's inputs
        self.encoding = (
            None
            if encoding is None
            else _Encoding(encoding.lower.astype(dt), encoding.inv_width.astype(dt))
        )
        # raw features: D = d * (1 + bins) with the encoding ([z, ramps(z)])
        self.d = self.D if encoding is None else self.D // (1 + encoding.bins)
        self.used = None if self.encoding is None else _UsedBins.of(self.encoding)
        # the first GEMM's input columns: z and the used bins' ramps
        self.n_in = self.D if self.used is None else self.d + len(self.used.cols)
        self.widths = [W.shape[1] for W, _ in dense[0][:-1]]  # hidden widths h1..hL
        self.clip = stds[0].clip if stds[0] is not None else None
        self.inputs = self._inputs(stds, dense)
        # layers 2..L: per layer, every member's weights and all members' biases stacked
        self.middle = [
            ([np.ascontiguousarray(m[j][0], dt) for m in dense], _stack(dense, j, 1, dt))
            for j in range(1, len(dense[0]) - 1)
        ]
        self.w_out = np.stack([m[-1][0][:, 0] for m in dense]).astype(dt)  # (K, hL)
        self.W_out = np.zeros((self.k * self.widths[-1], self.k), dt)  # block-diagonal
        for k in range(self.k):
            self.W_out[self._cols(k, -1), k] = self.w_out[k]
        self.b_out = np.array([m[-1][1][0] for m in dense], np.float64)
        self.acts = acts
        _limit_numpy_blas()

    def _inputs(self, stds: list, dense: list) -> list[_Input]:
        dt, h1 = self.dtype, self.widths[0]
        W1b = np.vstack([_stack(dense, 0, 0, dt), _stack(dense, 0, 1, dt)])
        if self.used is not None:  # z, the used bins' rows, the bias
            W1b = W1b[np.r_[np.arange(self.d), self.d + self.used.cols, self.D]]
        if stds[0] is None:
            return [_Input(None, None, np.ascontiguousarray(W1b), slice(None))]
        if _same_standardize(stds):
            return [_Input(stds[0].mean.astype(dt), stds[0].scale.astype(dt), W1b, slice(None))]
        return [
            _Input(
                s.mean.astype(dt),
                s.scale.astype(dt),
                np.ascontiguousarray(W1b[:, k * h1 : (k + 1) * h1]),
                slice(k * h1, (k + 1) * h1),
            )
            for k, s in enumerate(stds)
        ]

    def _cols(self, k: int, layer: int) -> slice:
        h = self.widths[layer]
        return slice(k * h, (k + 1) * h)

    # -- one block ---------------------------------------------------------------------
    def _standardize(self, Xb: np.ndarray, w: _Work) -> None:
        m = len(Xb)
        for inp, Zb in zip(self.inputs, w.Zb, strict=True):
            Z = Zb[:, : self.d]
            Z[m:] = 0
            if inp.mean is None:
                Z[:m] = Xb
                continue
            np.subtract(Xb, inp.mean, out=Z[:m])
            Z /= inp.scale
            if self.clip is not None:
                np.clip(Z, -self.clip, self.clip, out=Z)
            if self.encoding is not None:
                self._encode(Zb, w.E)

    def _encode(self, Zb: np.ndarray, E: np.ndarray) -> None:
        """PiecewiseLinear.forward into Zb for the used bins: clip((z - lower) * inv_width, 0, 1),
        computed in the contiguous E, then copied (the same values)."""
        self.used.write(Zb[:, : self.d], E)
        Zb[:, self.d : self.n_in] = E

    def _all_bins(self, A: np.ndarray, full: np.ndarray | None) -> np.ndarray:
        """The (BLOCK_ROWS, d, bins) values of every bin from A's used-bin columns: a view
        when every bin is used, else `full` with the used columns written (the rest 0)."""
        if full is None:
            out = A.view()
        else:
            full[:, self.used.cols] = A
            out = full.view()
        out.shape = (len(A), self.d, self.encoding.bins)  # raises rather than copy
        return out

    def _block_forward(self, Xb: np.ndarray, w: _Work) -> np.ndarray:
        """(BLOCK_ROWS, K) logits (without the output bias) of one block of <= BLOCK_ROWS
        rows; every activation stays in w for the gradient."""
        self._standardize(Xb, w)
        for inp, Zb in zip(self.inputs, w.Zb, strict=True):
            np.matmul(Zb, inp.W1b, out=w.H[0][:, inp.cols])
        self.acts[0].apply(w.H[0])
        for j, (Ws, b) in enumerate(self.middle, start=1):
            for k, W in enumerate(Ws):
                np.matmul(w.H[j - 1][:, self._cols(k, j - 1)], W, out=w.H[j][:, self._cols(k, j)])
            np.add(w.H[j], b, out=w.H[j])
            self.acts[j].apply(w.H[j])
        return np.matmul(w.H[-1], self.W_out, out=w.L)

    def _block_gradient(self, s: np.ndarray, w: _Work) -> np.ndarray:
        """(BLOCK_ROWS, d) gradient of the mean probability for the block that
        `_block_forward` left in w; s: the members' probabilities (BLOCK_ROWS, K)."""
        G = w.G[-1]
        g = (s * (1.0 - s)).astype(self.dtype)  # d sigmoid / d logit
        np.multiply(g[:, :, None], self.w_out, out=G.reshape(len(G), self.k, -1))
        G *= self.acts[-1].derivative(w.H[-1])
        for j in range(len(self.middle), 0, -1):
            Ws = self.middle[j - 1][0]
            for k, W in enumerate(Ws):
                np.matmul(w.G[j][:, self._cols(k, j)], W.T, out=w.G[j - 1][:, self._cols(k, j - 1)])
            w.G[j - 1] *= self.acts[j - 1].derivative(w.H[j - 1])
        dX = w.dX
        if self.encoding is not None:  # one input (same standardisation for every member)
            (inp,), (Zb,) = self.inputs, w.Zb
            dZ = np.matmul(w.G[0], inp.W1b[: self.n_in].T, out=w.dZ)
            dT = self._all_bins(dZ[:, self.d :], w.dT)
            T = self._all_bins(Zb[:, self.d : self.n_in], w.T)
            dX[...] = ramps_input_grad(dZ[:, : self.d], dT, T, self.encoding.inv_width)
            dX /= inp.scale
            if self.clip is not None:
                dX *= np.abs(Zb[:, : self.d]) < self.clip
            return dX
        for i, (inp, Zb) in enumerate(zip(self.inputs, w.Zb, strict=True)):
            dZ = np.matmul(w.G[0][:, inp.cols], inp.W1b[: self.d].T, out=dX if i == 0 else None)
            if inp.mean is not None:
                dZ /= inp.scale
                if self.clip is not None:
                    dZ *= np.abs(Zb[:, : self.d]) < self.clip
            if i:
                dX += dZ
        return dX

    # -- public ------------------------------------------------------------------------
    def member_logits(self, X: np.ndarray) -> np.ndarray:
        """(n, K) float64 logits of every member."""
        X = self._check(X)
        out = np.empty((len(X), self.k))
        w = _Work(self, grad=False)
        for i in range(0, len(X), BLOCK_ROWS):
            Xb = X[i : i + BLOCK_ROWS]
            out[i : i + len(Xb)] = self._block_forward(Xb, w)[: len(Xb)]
        out += self.b_out
        return out

    def proba(self, X: np.ndarray) -> np.ndarray:
        """(n,) mean of the members' sigmoid probabilities."""
        return mean_sigmoid(self.member_logits(X))

    def proba_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((n,) mean probability, exactly proba(X)'s; (n, d) float64 its gradient with
        respect to X)."""
        X = self._check(X)
        proba = np.empty(len(X))
        grad = np.empty(X.shape)
        w = _Work(self, grad=True)
        for i in range(0, len(X), BLOCK_ROWS):
            Xb = X[i : i + BLOCK_ROWS]
            m = len(Xb)
            logits = self._block_forward(Xb, w).astype(np.float64)
            logits += self.b_out
            proba[i : i + m] = mean_sigmoid(logits[:m])
            grad[i : i + m] = self._block_gradient(sigmoid(logits), w)[:m]
        grad /= self.k
        return proba, grad

    def _check(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ShapeError(f"model expects input of shape (batch, {self.d}). Received {X.shape}")
        return np.asarray(X, dtype=self.dtype)


def _stack(dense: list, layer: int, part: int, dtype) -> np.ndarray:
    """Every member's weights (part 0) or biases (part 1) of one layer, side by side."""
    return np.concatenate([m[layer][part] for m in dense], axis=-1).astype(dtype)


def mean_sigmoid(logits: np.ndarray) -> np.ndarray:
    """(n,) mean over members (columns) of sigmoid(logits), summed in member order."""
    s = sigmoid(logits)
    total = s[:, 0].copy()
    for k in range(1, s.shape[1]):
        total += s[:, k]
    return total / s.shape[1]
