"""ONNX ops -> dlcore layers: one converter per op (or op pattern) of a layer chain.

Owns: reading a node's attributes and constant operands, checking them against the
width flowing through the chain (a clear error naming the node when they disagree),
and producing the dlcore layer with the arrays to load into it. Does not own: reading
files or walking the graph (`onnx_import`).

Op -> layer: Gemm, MatMul[+Add] -> Linear; Relu, LeakyRelu, Tanh, Sigmoid -> the
same-named activation; BatchNormalization (inference form) -> BatchNorm1d; a run of
Sub/Div/Mul/Add by per-feature constants[, then a symmetric Clip] -> Standardize;
Clip(-c, c) alone -> Standardize with clip c; Identity, Dropout -> Dropout;
Concat(x, Clip(Mul(Sub(Gather(x, columns), lower), inv_width), 0, 1)) -> PiecewiseLinear
(the encoding `onnx_export` writes: `onnx_import` finds the branch, `_piecewise_linear`
reads its constants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlcore.errors import ConfigError
from dlcore.layers import (
    BatchNorm1d,
    Dropout,
    Layer,
    LeakyReLU,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sigmoid,
    Standardize,
    Tanh,
)
from fraud_app.errors import OnnxConversionError

AFFINE_OPS = ("Sub", "Div", "Mul", "Add")


@dataclass
class Step:
    """One node of the chain and the index of its data (non-constant) input."""

    node: Any
    data_index: int
    # a Concat of the data and a branch computed from it: the branch's nodes, in order
    branch: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        return f"node {self.node.name or '<unnamed>'!r} ({self.node.op_type})"


@dataclass
class Part:
    """A converted layer, the arrays to load into it, and its output width."""

    layer: Layer
    width: int
    params: dict[str, np.ndarray] = field(default_factory=dict)
    state: dict[str, np.ndarray] = field(default_factory=dict)


class Context:
    """What converters need from the graph: constants, attributes, layer names."""

    def __init__(self, onnx: Any, consts: dict[str, np.ndarray], strip_prefix: str = "") -> None:
        self.onnx = onnx
        self.consts = consts
        self.strip_prefix = strip_prefix
        self._used: set[str] = set()

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, step: Step, index: int, what: str) -> np.ndarray:
        node = step.node
        name = node.input[index] if index < len(node.input) else ""
        if name not in self.consts:
            raise OnnxConversionError(
                f"{step.label}: input {index} ({what}) must be a constant (initializer or "
                f"Constant node). Received tensor {name!r}"
            )
        return np.asarray(self.consts[name])

    def has_input(self, step: Step, index: int) -> bool:
        return index < len(step.node.input) and bool(step.node.input[index])

    def layer_name(self, step: Step, position: int) -> str:
        """`<prefix><layer>/<Op>[_N]` (our export's names) -> `<layer>`; else a sanitised node name."""
        name, op = step.node.name, step.node.op_type
        if self.strip_prefix and name.startswith(self.strip_prefix):
            name = name[len(self.strip_prefix) :]
        for suffix in (f"/{op}", *(f"/{op}_{i}" for i in range(1, 4))):
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                break
        name = name.replace(".", "_") or f"{position}_{op.lower()}"
        unique, i = name, 1
        while unique in self._used:
            unique, i = f"{name}_{i}", i + 1
        self._used.add(unique)
        return unique


def scalar(value: np.ndarray) -> float:
    return float(np.asarray(value).reshape(-1)[0])


def expect_data_index(step: Step, index: int, role: str) -> None:
    if step.data_index != index:
        raise OnnxConversionError(
            f"{step.label}: the data must be input {index} ({role}); it is input "
            f"{step.data_index}, which no dlcore layer computes"
        )


def per_feature(ctx: Context, step: Step, index: int, width: int, what: str) -> np.ndarray:
    """A constant broadcast to (width,): accepts shapes (), (1,), (width,), (1, width)."""
    value = ctx.const(step, index, what).astype(np.float64)
    if value.size == 1:
        return np.full(width, scalar(value))
    if value.shape in ((width,), (1, width)):
        return value.reshape(width)
    raise OnnxConversionError(
        f"{step.label}: {what} has shape {value.shape}, but {width} features reach this node "
        f"(expected shape ({width},), (1, {width}) or a scalar): mismatched shapes"
    )


def _check_width(step: Step, rows: int, width: int) -> None:
    if rows != width:
        raise OnnxConversionError(
            f"{step.label}: its weight expects {rows} input features, but {width} reach it: "
            "mismatched shapes. Check the graph's input width and the layer before it"
        )


def _gemm(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
    step = steps[i]
    expect_data_index(step, 0, "A of A @ B")
    attrs = ctx.attrs(step.node)
    if attrs.get("transA", 0):
        raise OnnxConversionError(f"{step.label}: transA=1 (a transposed input) is not supported")
    B = ctx.const(step, 1, "weight B")
    if B.ndim != 2:
        raise OnnxConversionError(f"{step.label}: weight B must be 2-D. Received shape {B.shape}")
    W = (B.T if attrs.get("transB", 0) else B).astype(np.float64) * attrs.get("alpha", 1.0)
    _check_width(step, W.shape[0], width)
    params = {"W": W}
    if ctx.has_input(step, 2):
        params["b"] = per_feature(ctx, step, 2, W.shape[1], "bias C") * attrs.get("beta", 1.0)
    layer = Linear(W.shape[1], use_bias="b" in params, name=ctx.layer_name(step, i))
    return Part(layer, W.shape[1], params), 1


def _bias_of(ctx: Context, steps: list[Step], i: int, units: int) -> np.ndarray | None:
    """The bias vector when steps[i] is `Add(x, b)` with a (units,) constant, else None."""
    if i >= len(steps) or steps[i].node.op_type != "Add":
        return None
    step = steps[i]
    value = ctx.consts.get(step.node.input[1 - step.data_index])
    if value is None or np.asarray(value).size not in (1, units):
        return None
    return per_feature(ctx, step, 1 - step.data_index, units, "bias")


def _matmul(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
    step = steps[i]
    expect_data_index(step, 0, "X of X @ W")
    W = ctx.const(step, 1, "weight").astype(np.float64)
    if W.ndim != 2:
        raise OnnxConversionError(f"{step.label}: weight must be 2-D. Received shape {W.shape}")
    _check_width(step, W.shape[0], width)
    b = _bias_of(ctx, steps, i + 1, W.shape[1])
    params = {"W": W} if b is None else {"W": W, "b": b}
    layer = Linear(W.shape[1], use_bias=b is not None, name=ctx.layer_name(step, i))
    return Part(layer, W.shape[1], params), 1 if b is None else 2


def _clip_bound(ctx: Context, step: Step) -> float:
    attrs = ctx.attrs(step.node)
    if ctx.has_input(step, 1) or ctx.has_input(step, 2):
        lo = scalar(ctx.const(step, 1, "min")) if ctx.has_input(step, 1) else -np.inf
        hi = scalar(ctx.const(step, 2, "max")) if ctx.has_input(step, 2) else np.inf
    else:  # opset < 11 keeps the bounds as attributes
        lo, hi = attrs.get("min", -np.inf), attrs.get("max", np.inf)
    if not (np.isfinite(hi) and hi > 0 and lo == -hi):
        raise OnnxConversionError(
            f"{step.label}: only a symmetric Clip(-c, c) with c > 0 maps to a dlcore layer "
            f"(Standardize's clip). Received min={lo}, max={hi}"
        )
    return hi


def _affine(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
    """y = (x - mean) / scale, folded in float64 from consecutive Sub/Div/Mul/Add by constants."""
    mean, scale, j = np.zeros(width), np.ones(width), i
    while j < len(steps) and steps[j].node.op_type in AFFINE_OPS:
        step, op = steps[j], steps[j].node.op_type
        if op in ("Sub", "Div"):
            expect_data_index(step, 0, f"the left operand of {op}")
        c = per_feature(ctx, step, 1 - step.data_index, width, f"{op} constant")
        if op in ("Mul", "Div") and np.any(c == 0):
            raise OnnxConversionError(f"{step.label}: a zero {op} factor cannot be standardised")
        if op == "Sub":
            mean = mean + c * scale
        elif op == "Add":
            mean = mean - c * scale
        elif op == "Div":
            scale = scale * c
        else:
            scale = scale / c
        j += 1
    clip = None
    if j < len(steps) and steps[j].node.op_type == "Clip":
        clip, j = _clip_bound(ctx, steps[j]), j + 1
    layer = Standardize(clip=clip, name=ctx.layer_name(steps[i], i))
    return Part(layer, width, state={"mean": mean, "scale": scale}), j - i


def _clip(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
    layer = Standardize(clip=_clip_bound(ctx, steps[i]), name=ctx.layer_name(steps[i], i))
    return Part(layer, width, state={"mean": np.zeros(width), "scale": np.ones(width)}), 1


def _batchnorm(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
    step = steps[i]
    expect_data_index(step, 0, "X")
    attrs = ctx.attrs(step.node)
    if attrs.get("training_mode", 0):
        raise OnnxConversionError(f"{step.label}: training_mode=1; export the model in eval mode")
    arrays = {
        key: per_feature(ctx, step, k, width, key)
        for k, key in enumerate(("gamma", "beta", "running_mean", "running_var"), start=1)
    }
    # ONNX momentum weighs the running statistic; dlcore's (PyTorch's) the batch statistic.
    momentum = float(f"{1.0 - attrs.get('momentum', 0.9):.6g}")
    layer = BatchNorm1d(
        momentum=momentum if 0.0 < momentum <= 1.0 else 0.1,
        eps=float(f"{attrs.get('epsilon', 1e-5):.6g}"),
        name=ctx.layer_name(step, i),
    )
    # as the layer computes it (float32): var + eps <= 0 scored NaN / inf for every row; a
    # negative var within -eps is finite, as in onnxruntime
    bad = int(np.count_nonzero(arrays["running_var"].astype(np.float32) + layer.eps <= 0))
    if bad:
        raise OnnxConversionError(
            f"{step.label}: running_var + epsilon ({layer.eps:g}) is <= 0 for {bad} feature(s) "
            "(running_var holds negative values; a variance is >= 0 and every score would be "
            "NaN): the file is damaged or was edited"
        )
    params = {"gamma": arrays["gamma"], "beta": arrays["beta"]}
    state = {"running_mean": arrays["running_mean"], "running_var": arrays["running_var"]}
    return Part(layer, width, params, state), 1


def _dropout(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
    step = steps[i]
    expect_data_index(step, 0, "data")
    rate = 0.0
    if step.node.op_type == "Dropout":
        rate = ctx.attrs(step.node).get("ratio", 0.5)
        if ctx.has_input(step, 1):
            rate = scalar(ctx.const(step, 1, "ratio"))
        if ctx.has_input(step, 2) and bool(scalar(ctx.const(step, 2, "training_mode"))):
            raise OnnxConversionError(f"{step.label}: training_mode is true; export in eval mode")
    return Part(Dropout(float(f"{rate:.6g}"), name=ctx.layer_name(step, i)), width), 1


RAMP_OPS = ("Gather", "Sub", "Mul", "Clip")  # the branch of a piecewise-linear encoding


def _piecewise_linear(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
    """Concat(x, Clip(Mul(Sub(Gather(x, columns), lower), inv_width), 0, 1)), columns =
    every feature `bins` times in order -> PiecewiseLinear(bins)."""
    step = steps[i]
    if not step.branch:
        raise OnnxConversionError(
            f"{step.label}: Concat is imported only as a piecewise-linear encoding, "
            "Concat(x, Clip(Mul(Sub(Gather(x, columns), lower), inv_width), 0, 1))"
        )
    gather, sub, mul, clip = (Step(n, 0) for n in step.branch)
    columns = ctx.const(gather, 1, "columns").astype(np.int64).reshape(-1)
    bins = len(columns) // width if width else 0
    if bins < 1 or not np.array_equal(columns, np.repeat(np.arange(width), bins)):
        raise OnnxConversionError(
            f"{gather.label}: gathers columns {columns[:12].tolist()}...; a piecewise-linear "
            f"encoding gathers each of the {width} features the same number of times, in order"
        )
    lo, hi = (scalar(ctx.const(clip, k, b)) for k, b in ((1, "min"), (2, "max")))
    if (lo, hi) != (0.0, 1.0):
        raise OnnxConversionError(f"{clip.label}: clips to [{lo}, {hi}]; the ramps clip to [0, 1]")
    state = {
        "lower": per_feature(ctx, sub, 1, width * bins, "lower").reshape(width, bins),
        "inv_width": per_feature(ctx, mul, 1, width * bins, "inv_width").reshape(width, bins),
    }
    layer = PiecewiseLinear(bins, name=ctx.layer_name(step, i))
    return Part(layer, width * (1 + bins), state=state), 1


def _activation(cls: type[Layer]) -> Callable[..., tuple[Part, int]]:
    def convert(ctx: Context, steps: list[Step], i: int, width: int) -> tuple[Part, int]:
        step = steps[i]
        name = ctx.layer_name(step, i)
        if cls is LeakyReLU:
            return Part(LeakyReLU(ctx.attrs(step.node).get("alpha", 0.01), name=name), width), 1
        return Part(cls(name=name), width), 1

    return convert


CONVERTERS: dict[str, Callable[[Context, list[Step], int, int], tuple[Part, int]]] = {
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Relu": _activation(ReLU),
    "LeakyRelu": _activation(LeakyReLU),
    "Tanh": _activation(Tanh),
    "Sigmoid": _activation(Sigmoid),
    "BatchNormalization": _batchnorm,
    "Clip": _clip,
    "Identity": _dropout,
    "Dropout": _dropout,
    "Concat": _piecewise_linear,
    **dict.fromkeys(AFFINE_OPS, _affine),
}


def check_finite(parts: list[Part]) -> None:
    """Weights and statistics must be finite: a NaN in a file loaded and scored NaN, and
    saving the ensemble failed naming a staging directory and advising a lower learning rate."""
    for p in parts:
        for key, value in {**p.params, **p.state}.items():
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            if bad:
                raise OnnxConversionError(
                    f"layer {p.layer.name!r} ({type(p.layer).__name__}): its {key} holds {bad} "
                    "non-finite value(s) (NaN or inf); the file is damaged or the model it "
                    "came from diverged. Export a model with finite weights"
                )


def first_width(ctx: Context, steps: list[Step]) -> int:
    """Input width when the graph input's is dynamic: the first constant that fixes it."""
    for step in steps:
        op, node = step.node.op_type, step.node
        if op in ("Gemm", "MatMul") and node.input[1] in ctx.consts:
            B = np.asarray(ctx.consts[node.input[1]])
            trans = op == "Gemm" and ctx.attrs(node).get("transB", 0)
            return int(B.shape[-1] if trans else B.shape[0])
        if op == "BatchNormalization" or op in AFFINE_OPS:
            sizes = [np.asarray(ctx.consts[n]).size for n in node.input if n in ctx.consts]
            if any(s > 1 for s in sizes):
                return max(sizes)
    raise OnnxConversionError(
        "cannot tell the number of input features: the graph input has no static width and "
        "no layer fixes it. Re-export with a static feature dimension"
    )


def convert_chain(ctx: Context, steps: list[Step], width: int) -> list[Part]:
    """The dlcore layers computing `steps` (a chain from the graph input) on `width` features."""
    parts, i = [], 0
    while i < len(steps):
        if steps[i].node.op_type not in CONVERTERS:  # Gather outside an encoding
            raise OnnxConversionError(
                f"{steps[i].label}: {steps[i].node.op_type} is imported only inside a "
                "piecewise-linear encoding (Gather, Sub, Mul, Clip(0, 1), Concat)"
            )
        try:
            part, used = CONVERTERS[steps[i].node.op_type](ctx, steps, i, width)
        except ConfigError as exc:  # a layer's own check, e.g. epsilon 0 (named no node)
            raise OnnxConversionError(
                f"{steps[i].label}: {exc}; dlcore's layer does not take this value"
            ) from exc
        parts.append(part)
        width, i = part.width, i + used
    return parts
