"""What the fused plan (dlcore/inference.py) reads from its members: each member's
Standardize, optional PiecewiseLinear encoding, dense layers and activations, and the
checks that let members be fused together (same shapes, activations, standardisation
clip; one encoding for all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlcore.layers.activations import LeakyReLU, ReLU, Tanh
from dlcore.layers.dropout import Dropout
from dlcore.layers.gaussian_noise import GaussianNoise
from dlcore.layers.linear import Linear
from dlcore.layers.piecewise_linear import PiecewiseLinear
from dlcore.layers.sequential import Sequential
from dlcore.layers.standardize import Standardize
from dlcore.model import Model


@dataclass(frozen=True)
class Act:
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
        """d act / d input, from the activation's OUTPUT Y (all three allow it; a leaky
        ReLU only with a slope >= 0, see `activation`)."""
        if self.kind == "relu":
            return Y > 0
        if self.kind == "leaky_relu":
            return np.where(Y > 0, Y.dtype.type(1), Y.dtype.type(self.slope))
        return 1 - Y * Y


def activation(layer) -> Act | None:
    if type(layer) is ReLU:
        return Act("relu")
    if type(layer) is LeakyReLU:
        # A negative slope (PyTorch and ONNX allow any) maps negative inputs to positive
        # outputs, so the derivative cannot be read from the output: not fused (probe55e:
        # the plan's gradient and attribution took slope 1 there, up to 0.65 off).
        if layer.negative_slope < 0:
            return None
        return Act("leaky_relu", layer.negative_slope)
    if type(layer) is Tanh:
        return Act("tanh")
    return None


@dataclass(frozen=True)
class Encoding:
    """A PiecewiseLinear's bins: (d, bins) lower edges and inverse widths."""

    lower: np.ndarray
    inv_width: np.ndarray

    @property
    def bins(self) -> int:
        return self.lower.shape[1]


@dataclass(frozen=True)
class UsedBins:
    """The bins the plan computes (inv_width > 0), flat and feature-major: their index in
    the layer's d * bins ramp columns, their feature, lower edge and inverse width (as
    (u, 1) columns: the plan holds a block's rows as columns)."""

    cols: np.ndarray  # (u,) intp
    feature: np.ndarray  # (u,) intp
    lower: np.ndarray  # (u, 1) in the plan's dtype
    inv_width: np.ndarray

    @classmethod
    def of(cls, enc: Encoding) -> UsedBins:
        cols = np.flatnonzero(enc.inv_width.reshape(-1) > 0)
        return cls(
            cols,
            cols // enc.bins,
            enc.lower.reshape(-1)[cols].reshape(-1, 1).copy(),
            enc.inv_width.reshape(-1)[cols].reshape(-1, 1).copy(),
        )

    def write(self, ZT: np.ndarray, out: np.ndarray) -> None:
        """out (u, n) = clip((ZT[feature] - lower) * inv_width, 0, 1) from ZT (d, n): the
        layer's operations on the used bins, rows as columns."""
        np.take(ZT, self.feature, axis=0, out=out, mode="clip")
        np.subtract(out, self.lower, out=out)
        out *= self.inv_width
        np.clip(out, 0.0, 1.0, out=out)


def member_plan(model: Model):
    """(Standardize or None, Encoding or None, [(W, b)], [act]) of one member, or None if
    it is not a plain MLP (with an optional encoding right after its Standardize)."""
    if type(model.layer) is not Sequential or model.out_features != 1:
        return None
    layers = [la for la in model.layer.layers if type(la) not in (Dropout, GaussianNoise)]
    std = layers.pop(0) if layers and type(layers[0]) is Standardize else None
    enc = None
    if std is not None and layers and type(layers[0]) is PiecewiseLinear:
        layer = layers.pop(0)
        enc = Encoding(np.array(layer.lower), np.array(layer.inv_width))
    dense, acts = [], []
    for i, layer in enumerate(layers):
        want_linear = i % 2 == 0
        if want_linear:
            if type(layer) is not Linear:
                return None
            b = layer.b if layer.use_bias else np.zeros(layer.units)
            dense.append((np.array(layer.W), np.array(b)))
        else:
            act = activation(layer)
            if act is None:
                return None
            acts.append(act)
    if len(dense) < 2 or len(acts) != len(dense) - 1:
        return None
    return std, enc, dense, acts


def same_encoding(encs: list) -> bool:
    first = encs[0]
    if first is None:
        return all(e is None for e in encs)
    return all(
        e is not None
        and np.array_equal(e.lower, first.lower)
        and np.array_equal(e.inv_width, first.inv_width)
        for e in encs
    )


def same_standardize(stds: list) -> bool:
    first = stds[0]
    return all(
        s is not None
        and s.clip == first.clip
        and np.array_equal(s.mean, first.mean)
        and np.array_equal(s.scale, first.scale)
        for s in stds
    )


def compatible_standardize(stds: list) -> bool:
    if stds[0] is None:
        return all(s is None for s in stds)
    return all(s is not None and s.clip == stds[0].clip for s in stds)


def stack_layer(dense: list, layer: int, part: int, dtype) -> np.ndarray:
    """Every member's weights (part 0) or biases (part 1) of one layer, side by side."""
    return np.concatenate([m[layer][part] for m in dense], axis=-1).astype(dtype)
