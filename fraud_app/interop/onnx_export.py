"""dlcore models and FraudEnsembles -> ONNX graphs (opset 17), and checked ONNX files.

Owns: the layer -> ONNX node mapping (one function per shipped layer type, in
`EXPORTERS`), the graph contract, the metadata, and writing files only after
`onnx.checker.check_model(full_check=True)` passes. Does not own: reading ONNX
(`onnx_import`) or resolving model URIs (`fraud_app.tracking`).

Graph contract (every export):
- input  `features`            float32 [batch, n_features]
- single model: output `logits` float32 [batch, out_features], the raw model output
  (what `Model.predict` returns; a fraud member's logit, before the sigmoid)
- ensemble: output `fraud_probability` float32 [batch], the mean of the members'
  sigmoids (what `FraudEnsemble.predict_proba` returns), and `member_probabilities`
  float32 [batch, n_members]
- metadata_props: `fraud_app.format`, `feature_names` (JSON list), `model_version`,
  `members`, `combine`, `ensemble_metadata` (JSON), `model_uri` when known,
  `scoring_threshold` when the ensemble's metadata holds the alert threshold
  (`scoring` -> `threshold`)

Layer mapping: Linear -> Gemm; ReLU/LeakyReLU/Tanh/Sigmoid -> same-named ops; Dropout
-> Identity (rate 0) or Dropout with its ratio (inference: identity); GaussianNoise ->
Identity (it acts in training only); BatchNorm1d ->
BatchNormalization (running statistics, ONNX momentum = 1 - dlcore momentum);
Standardize -> Sub, Div[, Clip]; PiecewiseLinear -> Gather, Sub, Mul, Clip, Concat; Embedding -> Cast, Gather, Reshape; FeatureEmbedding ->
Gather (numeric columns), Gather/Cast/Add/Gather/Reshape (ids), Concat. Parameters are
written as float32 whatever the model's dtype. Ids are checked as dlcore checks them
(`_checked_ids`: an integer in [0, size), else an index past the table, which onnxruntime's
Gather refuses, failing the run): ONNX Gather alone read a negative id from the end and an
unseen category of one column as a row of the next column's table.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.layers import (
    BatchNorm1d,
    Dropout,
    Embedding,
    FeatureEmbedding,
    GaussianNoise,
    Layer,
    LeakyReLU,
    Linear,
    PiecewiseLinear,
    ReLU,
    Sequential,
    Sigmoid,
    Standardize,
    Tanh,
)
from dlcore.model import Model
from fraud_app.errors import OnnxConversionError, OutputPathError
from fraud_app.interop._deps import require_onnx

OPSET = 17
INPUT = "features"
LOGITS = "logits"
PROBABILITY = "fraud_probability"
MEMBER_PROBABILITIES = "member_probabilities"
MODEL_FORMAT = "fraud_app.dlcore_model.onnx/1"
ENSEMBLE_FORMAT = "fraud_app.ensemble.onnx/1"
GRAPH_DIGEST = "fraud_app.sha256"  # metadata_props key: sha256 of the graph and the metadata


def member_prefix(k: int) -> str:
    """Name prefix of ensemble member k's nodes and initializers."""
    return f"member_{k:02d}/"


class GraphBuilder:
    """Collects nodes and initializers; names nodes `<prefix><layer>/<Op>` (unique)."""

    def __init__(self, prefix: str = "") -> None:
        self.onnx = require_onnx()
        self.prefix = prefix
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()

    def const(self, owner: str, what: str, value: np.ndarray) -> str:
        name = f"{self.prefix}{owner}.{what}"
        if name in self._names:
            raise OnnxConversionError(
                f"duplicate initializer name {name!r}; layer names must be unique"
            )
        self._names.add(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], owner: str, **attrs: Any) -> str:
        base = f"{self.prefix}{owner}/{op}"
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def rename_last_output(self, output: str) -> None:
        """Make the last node write the graph output tensor `output`."""
        self.nodes[-1].output[0] = output


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _linear(g: GraphBuilder, layer: Linear, x: str) -> str:
    inputs = [x, g.const(layer.name, "W", _f32(layer.W))]
    if layer.use_bias:
        inputs.append(g.const(layer.name, "b", _f32(layer.b)))
    return g.node("Gemm", inputs, layer.name)


def _leaky_relu(g: GraphBuilder, layer: LeakyReLU, x: str) -> str:
    return g.node("LeakyRelu", [x], layer.name, alpha=layer.negative_slope)


def _dropout(g: GraphBuilder, layer: Dropout, x: str) -> str:
    if layer.rate == 0.0:
        return g.node("Identity", [x], layer.name)
    # No training_mode input: ONNX Dropout is then the identity (inference), and the
    # ratio survives a round trip for fine-tuning.
    ratio = g.const(layer.name, "ratio", np.array(layer.rate, dtype=np.float32))
    return g.node("Dropout", [x, ratio], layer.name)


def _batchnorm(g: GraphBuilder, layer: BatchNorm1d, x: str) -> str:
    inputs = [
        x,
        g.const(layer.name, "gamma", _f32(layer.gamma)),
        g.const(layer.name, "beta", _f32(layer.beta)),
        g.const(layer.name, "running_mean", _f32(layer.running_mean)),
        g.const(layer.name, "running_var", _f32(layer.running_var)),
    ]
    # ONNX momentum weighs the running statistic, PyTorch/dlcore momentum the batch one.
    momentum = float(np.float32(1.0 - layer.momentum))
    return g.node("BatchNormalization", inputs, layer.name, epsilon=layer.eps, momentum=momentum)


def _standardize(g: GraphBuilder, layer: Standardize, x: str) -> str:
    y = g.node("Sub", [x, g.const(layer.name, "mean", _f32(layer.mean))], layer.name)
    y = g.node("Div", [y, g.const(layer.name, "scale", _f32(layer.scale))], layer.name)
    if layer.clip is not None:
        lo = g.const(layer.name, "clip_min", np.array(-layer.clip, dtype=np.float32))
        hi = g.const(layer.name, "clip_max", np.array(layer.clip, dtype=np.float32))
        y = g.node("Clip", [y, lo, hi], layer.name)
    return y


def _piecewise_linear(g: GraphBuilder, layer: PiecewiseLinear, x: str) -> str:
    columns = np.repeat(np.arange(layer.in_features, dtype=np.int64), layer.bins)
    t = g.node("Gather", [x, g.const(layer.name, "columns", columns)], layer.name, axis=1)
    t = g.node("Sub", [t, g.const(layer.name, "lower", _f32(layer.lower.reshape(-1)))], layer.name)
    t = g.node(
        "Mul", [t, g.const(layer.name, "inv_width", _f32(layer.inv_width.reshape(-1)))], layer.name
    )
    lo = g.const(layer.name, "ramp_min", np.array(0.0, dtype=np.float32))
    hi = g.const(layer.name, "ramp_max", np.array(1.0, dtype=np.float32))
    t = g.node("Clip", [t, lo, hi], layer.name)
    return g.node("Concat", [x, t], layer.name, axis=1)


def _lookup(g: GraphBuilder, layer: Layer, ids: str, width: int) -> str:
    """Gather rows of the layer's table for (batch, k) int64 ids -> (batch, width)."""
    rows = g.node(
        "Gather", [g.const(layer.name, "table", _f32(layer.table)), ids], layer.name, axis=0
    )
    shape = g.const(layer.name, "out_shape", np.array([0, width], dtype=np.int64))
    return g.node("Reshape", [rows, shape], layer.name)


def _checked_ids(g: GraphBuilder, layer: Layer, x: str, sizes: Any, offsets: Any) -> str:
    """int64 rows of the layer's table for float ids `x`: id + offset where the id is an
    integer in [0, size) (dlcore's rule), else the table's length, which Gather refuses
    (onnxruntime: `indices element out of data bounds`). A plain Cast + Gather scored an
    unseen category with another column's row (id 5 of 5 + offset = the next column's
    first row), a negative id from the end of the table and 2.5 as 2, where dlcore refuses
    each; NaN is refused too (every comparison with it is false)."""
    size = g.const(layer.name, "sizes", _f32(np.asarray(sizes)))
    zero = g.const(layer.name, "zero", np.array(0.0, dtype=np.float32))
    valid = g.node("And", [
        g.node("GreaterOrEqual", [x, zero], layer.name),
        g.node("Less", [x, size], layer.name),
    ], layer.name)  # fmt: skip
    whole = g.node("Equal", [g.node("Floor", [x], layer.name), x], layer.name)
    valid = g.node("And", [valid, whole], layer.name)
    ids = g.node("Cast", [x], layer.name, to=g.onnx.TensorProto.INT64)
    if offsets is not None:
        offsets = g.const(layer.name, "offsets", np.asarray(offsets, dtype=np.int64))
        ids = g.node("Add", [ids, offsets], layer.name)
    rows = g.const(layer.name, "rows", np.array(len(layer.table), dtype=np.int64))
    return g.node("Where", [valid, ids, rows], layer.name)


def _embedding(g: GraphBuilder, layer: Embedding, x: str) -> str:
    ids = _checked_ids(g, layer, x, layer.num_embeddings, None)
    return _lookup(g, layer, ids, layer.out_features)


def _feature_embedding(g: GraphBuilder, layer: FeatureEmbedding, x: str) -> str:
    cats = g.const(layer.name, "cat_columns", np.array(layer.cat_columns, dtype=np.int64))
    values = g.node("Gather", [x, cats], layer.name, axis=1)
    ids = _checked_ids(g, layer, values, layer.num_embeddings, layer.offsets)
    emb = _lookup(g, layer, ids, len(layer.cat_columns) * layer.dim)
    if not layer.numeric_columns:
        return emb
    num_idx = g.const(
        layer.name, "numeric_columns", np.array(layer.numeric_columns, dtype=np.int64)
    )
    numeric = g.node("Gather", [x, num_idx], layer.name, axis=1)
    return g.node("Concat", [numeric, emb], layer.name, axis=1)


def _sequential(g: GraphBuilder, layer: Sequential, x: str) -> str:
    for child in layer.layers:
        x = export_layer(g, child, x)
    return x


def _simple(op: str) -> Callable[[GraphBuilder, Layer, str], str]:
    return lambda g, layer, x: g.node(op, [x], layer.name)


EXPORTERS: dict[type[Layer], Callable[[GraphBuilder, Any, str], str]] = {
    Linear: _linear,
    ReLU: _simple("Relu"),
    LeakyReLU: _leaky_relu,
    Tanh: _simple("Tanh"),
    Sigmoid: _simple("Sigmoid"),
    Dropout: _dropout,
    GaussianNoise: _simple("Identity"),  # training-time only
    BatchNorm1d: _batchnorm,
    Standardize: _standardize,
    PiecewiseLinear: _piecewise_linear,
    Embedding: _embedding,
    FeatureEmbedding: _feature_embedding,
    Sequential: _sequential,
}


def export_layer(g: GraphBuilder, layer: Layer, x: str) -> str:
    """Append the nodes computing `layer` on tensor `x`; returns the output tensor name."""
    fn = EXPORTERS.get(type(layer))
    if fn is None:
        raise OnnxConversionError(
            f"cannot export layer {layer.name!r} of type {type(layer).__name__}: it has no ONNX "
            f"mapping. Exportable layer types: {sorted(t.__name__ for t in EXPORTERS)}"
        )
    return fn(g, layer, x)


def _value_info(onnx: Any, name: str, dims: list, doc: str) -> Any:
    info = onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)
    info.doc_string = doc
    return info


def _model_proto(g: GraphBuilder, inputs: list, outputs: list, name: str, meta: dict) -> Any:
    onnx = g.onnx
    graph = onnx.helper.make_graph(g.nodes, name, inputs, outputs, initializer=g.initializers)
    model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="fraud-app",
        doc_string="Exported by fraud-app (fraud_app.interop.onnx_export)",
    )
    version = str(meta.get("model_version", ""))
    if version.isascii() and version.isdigit() and int(version) < 2**63:  # an int64 field
        model.model_version = int(version)  # else only the metadata prop carries it
    # the content's digest: import-onnx refuses a file that no longer matches it (a damaged
    # byte inside a weight or a feature name still parses, and loaded without a word)
    props = {k: str(v) for k, v in meta.items()}
    onnx.helper.set_model_props(model, {**props, GRAPH_DIGEST: content_digest(graph, props)})
    return model


def content_digest(graph: Any, props: dict[str, str]) -> str:
    """sha256 of the serialised graph (nodes, weights, inputs, outputs) and the metadata."""
    h = hashlib.sha256(graph.SerializeToString())
    h.update(json.dumps(props, sort_keys=True).encode())
    return h.hexdigest()


def _features_input(onnx: Any, n: int) -> Any:
    return _value_info(
        onnx, INPUT, ["batch", n], "float32 feature vectors, one row per transaction"
    )


def model_to_onnx(model: Model, *, model_version: str | None = None) -> Any:
    """A dlcore Model as an ONNX ModelProto: `features` -> `logits` (the raw model output)."""
    g = GraphBuilder()
    export_layer(g, model.layer, INPUT)
    g.rename_last_output(LOGITS)
    out = _value_info(
        g.onnx, LOGITS, ["batch", model.out_features], "raw model outputs (Model.predict)"
    )
    meta = {"fraud_app.format": MODEL_FORMAT}
    if model_version is not None:
        meta["model_version"] = model_version
    return _model_proto(
        g, [_features_input(g.onnx, model.in_features)], [out], "dlcore_model", meta
    )


def _ensemble_meta(ensemble: Any, model_version: str | None, model_uri: str | None) -> dict:
    meta = {
        "fraud_app.format": ENSEMBLE_FORMAT,
        "feature_names": json.dumps(list(ensemble.feature_names)),
        "model_version": "" if model_version is None else model_version,
        "members": len(ensemble.members),
        "combine": "mean_probability",
        "ensemble_metadata": json.dumps(ensemble.metadata, sort_keys=True, default=str),
    }
    if model_uri is not None:
        meta["model_uri"] = model_uri
    scoring = ensemble.metadata.get("scoring")
    if isinstance(scoring, dict) and scoring.get("threshold") is not None:
        meta["scoring_threshold"] = repr(float(scoring["threshold"]))  # alert cut-off (C2)
    return meta


def ensemble_to_onnx(
    ensemble: Any, *, model_version: str | None = None, model_uri: str | None = None
) -> Any:
    """A FraudEnsemble as ONE ONNX graph returning the mean of the members' sigmoids."""
    g = GraphBuilder()
    probs = []
    for k, member in enumerate(ensemble.members):
        if member.out_features != 1:
            raise OnnxConversionError(
                f"ensemble member {k} outputs {member.out_features} values per row; a fraud "
                "ensemble member must output one logit"
            )
        g.prefix = member_prefix(k)
        logits = export_layer(g, member.layer, INPUT)
        probs.append(g.node("Sigmoid", [logits], "probability"))
    g.prefix = ""
    g.node("Concat", probs, "ensemble", axis=1)
    g.rename_last_output(MEMBER_PROBABILITIES)
    g.node("ReduceMean", [MEMBER_PROBABILITIES], "ensemble", axes=[1], keepdims=0)
    g.rename_last_output(PROBABILITY)
    onnx, k = g.onnx, len(ensemble.members)
    outputs = [
        _value_info(
            onnx,
            PROBABILITY,
            ["batch"],
            "ensemble fraud probability: mean of the members' sigmoids",
        ),
        _value_info(onnx, MEMBER_PROBABILITIES, ["batch", k], "each member's fraud probability"),
    ]
    meta = _ensemble_meta(ensemble, model_version, model_uri)
    inputs = [_features_input(onnx, len(ensemble.feature_names))]
    return _model_proto(g, inputs, outputs, "fraud_ensemble", meta)


def check_onnx(proto: Any) -> None:
    """onnx.checker with full_check (shape inference); OnnxConversionError if it fails."""
    onnx = require_onnx()
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise OnnxConversionError(f"the exported ONNX graph fails onnx.checker: {exc}") from exc


def save_onnx(proto: Any, path: str | os.PathLike) -> Path:
    """Check `proto` and write it to `path` atomically (temp file + rename)."""
    check_onnx(proto)
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(
            f"{path} is a directory; give the ONNX file to write (e.g. {path / 'fraud.onnx'})"
        )
    if path.parent.exists() and not path.parent.is_dir():
        raise OutputPathError(f"{path.parent} is a file, not a directory to write {path.name} in")
    if path.exists() and not path.is_file():  # the rename below would replace the node itself
        raise OutputPathError(
            f"{path} exists and is not a regular file (a device, pipe or socket): writing the "
            "model there would replace it. Give the path of a .onnx file"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a directory that cannot be created or written
        raise OutputPathError(
            f"cannot write {path}: {exc.strerror or exc} ({path.parent}); give a path in a "
            "directory this user can write"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(proto.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
