"""Fused float64 inference for an ensemble of MLP classifiers (mean of member sigmoids).

Owns: compiling K same-shaped members, Standardize -> [Linear -> activation (-> Dropout)]
x L -> Linear(1), into one plan that scores them together: the shared standardisation
once, all members' first layers as ONE GEMM against their weights stacked side by side
(d, K * h1), the later layers per member on column views (no copies), biases and
activations in place, in row chunks small enough to stay in cache. The same plan gives
the input gradient of the mean probability: the members' first-layer gradients are
stacked the same way, so one GEMM against the stacked weights sums them over members.

Float64 throughout, like the twins it replaces: a row's result does not depend on the
batch it arrives in beyond ~1e-16, so every scoring path (Spark batches, a pyfunc
call on any number of rows, a server) agrees to well under 1e-9.

`compile_ensemble` returns None for anything else (other layers, members that differ in
shape or in their standardisation); callers then score member by member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlcore.backends import get_ops
from dlcore.errors import ShapeError
from dlcore.layers.activations import LeakyReLU, ReLU, Tanh
from dlcore.layers.dropout import Dropout
from dlcore.layers.linear import Linear
from dlcore.layers.sequential import Sequential
from dlcore.layers.standardize import Standardize
from dlcore.losses import sigmoid
from dlcore.model import Model

CHUNK_ROWS = 256


@dataclass(frozen=True)
class _Act:
    kind: str  # "relu" | "leaky_relu" | "tanh"
    slope: float = 0.0

    def apply(self, H: np.ndarray) -> None:
        if self.kind == "relu":
            np.maximum(H, 0.0, out=H)
        elif self.kind == "leaky_relu":
            np.multiply(H, np.where(H > 0, 1.0, self.slope), out=H)
        else:
            np.tanh(H, out=H)

    def derivative(self, Y: np.ndarray) -> np.ndarray:
        """d act / d input, from the activation's OUTPUT Y (all three allow it)."""
        if self.kind == "relu":
            return Y > 0
        if self.kind == "leaky_relu":
            return np.where(Y > 0, 1.0, self.slope)
        return 1.0 - Y * Y


def _activation(layer) -> _Act | None:
    if type(layer) is ReLU:
        return _Act("relu")
    if type(layer) is LeakyReLU:
        return _Act("leaky_relu", layer.negative_slope)
    if type(layer) is Tanh:
        return _Act("tanh")
    return None


def _member_plan(model: Model):
    """(Standardize or None, [(W, b)], [act]) of one member, or None if not a plain MLP."""
    if type(model.layer) is not Sequential or model.out_features != 1:
        return None
    layers = [la for la in model.layer.layers if type(la) is not Dropout]
    std = layers.pop(0) if layers and type(layers[0]) is Standardize else None
    dense, acts = [], []
    for i, layer in enumerate(layers):
        want_linear = i % 2 == 0
        if want_linear:
            if type(layer) is not Linear:
                return None
            b = layer.b if layer.use_bias else np.zeros(layer.units)
            dense.append((np.array(layer.W, np.float64), np.array(b, np.float64)))
        else:
            act = _activation(layer)
            if act is None:
                return None
            acts.append(act)
    if len(dense) < 2 or len(acts) != len(dense) - 1:
        return None
    return std, dense, acts


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
    """The fused plan of `models`, or None when they are not same-shaped plain MLPs."""
    plans = [_member_plan(m) for m in models]
    if not plans or any(p is None for p in plans):
        return None
    stds = [p[0] for p in plans]
    shapes = {tuple(W.shape for W, _ in p[1]) for p in plans}
    acts = {tuple(p[2]) for p in plans}
    if len(shapes) != 1 or len(acts) != 1 or not _compatible_standardize(stds):
        return None
    return FusedEnsemble(stds, [p[1] for p in plans], list(plans[0][2]))


class FusedEnsemble:
    """Scores K members at once; see the module docstring."""

    def __init__(self, stds: list, dense: list, acts: list[_Act]) -> None:
        self.k = len(dense)
        self.mean = self.scale = self.clip = None
        if stds[0] is not None:
            # (1, d) when every member standardises alike, else (K, d): one row each
            shared = _same_standardize(stds)
            used = stds[:1] if shared else stds
            self.mean = np.array([s.mean for s in used], np.float64)
            self.scale = np.array([s.scale for s in used], np.float64)
            self.clip = stds[0].clip
        self.ops = get_ops()
        self.W1 = np.ascontiguousarray(np.concatenate([m[0][0] for m in dense], axis=1))
        self.b1 = np.concatenate([m[0][1] for m in dense])
        # [W1; b1]: a ones column after the inputs makes the GEMM add the bias
        self.W1b = np.ascontiguousarray(np.vstack([self.W1, self.b1]))
        self.h1 = dense[0][0][0].shape[1]
        self.middle = [m[1:-1] for m in dense]  # per member [(W, b)] of layers 2..L-1
        self.w_out = [m[-1][0][:, 0].copy() for m in dense]
        self.b_out = np.array([m[-1][1][0] for m in dense])
        self.acts = acts

    def _first_layer(self, X: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(n, K * h1) first-layer outputs of all members, and the standardised inputs:
        one GEMM (bias included) when the members share their standardisation, else one
        per member."""
        n, d = X.shape
        if self.mean is None or len(self.mean) == 1:
            Zb = np.empty((n, d + 1))
            Zb[:, d] = 1.0
            Z = Zb[:, :d]
            if self.mean is None:
                Z[...] = X
            else:
                np.subtract(X, self.mean[0], out=Z)
                self._scale_clip(Z, 0)
            return self.ops.gemm(Zb, self.W1b), [Z]
        H1 = np.empty((n, self.W1.shape[1]))
        Zs = []
        for k in range(self.k):
            Z = X - self.mean[k]
            self._scale_clip(Z, k)
            cols = slice(k * self.h1, (k + 1) * self.h1)
            self.ops.gemm(Z, self.W1[:, cols], out=H1[:, cols])
            Zs.append(Z)
        H1 += self.b1
        return H1, Zs

    def _scale_clip(self, Z: np.ndarray, j: int) -> None:
        Z /= self.scale[j]
        if self.clip is not None:
            np.clip(Z, -self.clip, self.clip, out=Z)

    def _forward(self, X: np.ndarray, keep: bool):
        """Member logits (n, K); with keep, also the activations the gradient needs."""
        H1, Z = self._first_layer(X)
        self.acts[0].apply(H1)
        logits = np.empty((len(X), self.k))
        saved = []
        for k in range(self.k):
            H = H1[:, k * self.h1 : (k + 1) * self.h1]
            outs = [H]
            for (W, b), act in zip(self.middle[k], self.acts[1:], strict=True):
                H = self.ops.gemm(H, W)
                H += b
                act.apply(H)
                outs.append(H)
            logits[:, k] = H @ self.w_out[k]
            saved.append(outs)
        logits += self.b_out
        return (logits, Z, H1, saved) if keep else logits

    def member_logits(self, X: np.ndarray) -> np.ndarray:
        """(n, K) float64 logits of every member; X is converted to float64 per chunk."""
        self._check(X)
        out = np.empty((len(X), self.k))
        for i in range(0, len(X), CHUNK_ROWS):
            out[i : i + CHUNK_ROWS] = self._forward(_f64(X[i : i + CHUNK_ROWS]), False)
        return out

    def proba(self, X: np.ndarray) -> np.ndarray:
        """(n,) mean of the members' sigmoid probabilities."""
        return mean_sigmoid(self.member_logits(X))

    def proba_and_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((n,) mean probability, (n, d) its gradient with respect to X)."""
        self._check(X)
        proba = np.empty(len(X))
        grad = np.empty(X.shape)
        for i in range(0, len(X), CHUNK_ROWS):
            sl = slice(i, i + CHUNK_ROWS)
            proba[sl], grad[sl] = self._chunk_gradient(_f64(X[sl]))
        return proba, grad

    def _chunk_gradient(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, Z, H1, saved = self._forward(X, True)
        s = sigmoid(logits)
        g = s * (1.0 - s)  # d sigmoid / d logit, (n, K)
        G1 = np.empty_like(H1)  # gradient at the first layer's output, all members
        last = len(self.acts) - 1
        for k in range(self.k):
            outs, cols = saved[k], slice(k * self.h1, (k + 1) * self.h1)
            if last == 0:  # one hidden layer: the output weights lead straight to H1
                np.multiply(g[:, k : k + 1], self.w_out[k], out=G1[:, cols])
                continue
            G = g[:, k : k + 1] * self.w_out[k]
            G *= self.acts[last].derivative(outs[last])
            for j in range(last - 1, 0, -1):
                G = self.ops.gemm(G, self.middle[k][j][0], trans_b=True)
                G *= self.acts[j].derivative(outs[j])
            self.ops.gemm(G, self.middle[k][0][0], out=G1[:, cols], trans_b=True)
        G1 *= self.acts[0].derivative(H1)  # the first activation, once for all members
        dX = self._input_gradient(G1, Z)
        dX /= self.k
        return mean_sigmoid(logits), dX

    def _check(self, X: np.ndarray) -> None:
        if X.ndim != 2 or X.shape[1] != self.W1.shape[0]:
            raise ShapeError(
                f"model expects input of shape (batch, {self.W1.shape[0]}). Received {X.shape}"
            )

    def _input_gradient(self, G1: np.ndarray, Zs: list[np.ndarray]) -> np.ndarray:
        """Sum over members of dZ_k / dX back through each member's standardisation."""
        if len(Zs) == 1:
            parts = [(self.ops.gemm(G1, self.W1, trans_b=True), 0)]
        else:
            parts = []
            for k in range(self.k):
                cols = slice(k * self.h1, (k + 1) * self.h1)
                parts.append((self.ops.gemm(G1[:, cols], self.W1[:, cols], trans_b=True), k))
        dX = None
        for dZ, j in parts:
            if self.mean is not None:
                dZ /= self.scale[j]
                if self.clip is not None:
                    dZ *= np.abs(Zs[j]) < self.clip
            dX = dZ if dX is None else dX + dZ
        return dX


def mean_sigmoid(logits: np.ndarray) -> np.ndarray:
    """(n,) mean over members (columns) of sigmoid(logits), summed in member order."""
    s = sigmoid(logits)
    total = s[:, 0].copy()
    for k in range(1, s.shape[1]):
        total += s[:, k]
    return total / s.shape[1]


def _f64(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float64)
