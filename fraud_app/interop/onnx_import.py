"""ONNX graphs -> dlcore Models and FraudEnsembles.

Owns: reading ONNX files (protobuf; nothing is unpickled and no code from the file
runs), checking the graph (one float32 [batch, n] input; only ops with a dlcore layer,
else ONE error listing every unsupported op and its nodes), walking the chain of nodes
from an output back to the input, and building a normal dlcore Model (one flat
ParamBuffer, so the batch scorer and the distributed trainer take it like any other).
The op -> layer mapping lives in `onnx_ops`.

Two entry points:
- `model_from_onnx`: the graph as it is (a final Sigmoid stays a Sigmoid layer).
- `ensemble_from_onnx`: a FraudEnsemble (`import_ensemble`: with the model version and
  origin the file records, `ImportedEnsemble`). A file written by `ensemble_to_onnx` comes back
  member by member with its feature names and metadata; any other graph becomes a
  one-member ensemble whose final Sigmoid, if any, is dropped (members output logits:
  the ensemble applies the sigmoid, and BCE-with-logits fine-tunes them), with the
  Identity / Dropout nodes after it (no-ops at inference).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcore.layers import Dropout, Sequential, Sigmoid
from dlcore.model import Model
from fraud_app.errors import OnnxConversionError, UnsupportedOnnxOpError
from fraud_app.interop._deps import require_onnx
from fraud_app.interop.onnx_export import (
    ENSEMBLE_FORMAT,
    GRAPH_DIGEST,
    MEMBER_PROBABILITIES,
    PROBABILITY,
    content_digest,
    member_prefix,
)
from fraud_app.interop.onnx_names import feature_names_of, json_prop
from fraud_app.interop.onnx_ops import (
    CONVERTERS,
    RAMP_OPS,
    Context,
    Part,
    Step,
    check_finite,
    convert_chain,
    first_width,
)
from fraud_app.interop.onnx_opsets import check_opset
from fraud_app.interop.onnx_source import file_version

logger = logging.getLogger(__name__)

SUPPORTED_OPS = tuple(sorted({*CONVERTERS, *RAMP_OPS}))
_ENSEMBLE_OPS = ("Concat", "ReduceMean")  # the combine step of an `ensemble_to_onnx` graph


def load_onnx(source: Any) -> Any:
    """An onnx.ModelProto from a path (or the proto itself). Never unpickles."""
    onnx = require_onnx()
    if isinstance(source, onnx.ModelProto):
        return source
    path = Path(source)
    if not path.is_file():
        raise OnnxConversionError(f"{path}: no ONNX file here (expected a .onnx file)")
    try:  # external data is read below, once every location it names was checked
        proto = onnx.load_model(os.fspath(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and other message errors
        raise OnnxConversionError(f"{path}: not a readable ONNX model ({exc})") from exc
    _load_external_data(onnx, proto, path)
    if not proto.graph.node:  # protobuf reads an empty file (and some others) as a blank model
        empty = "the file is empty" if path.stat().st_size == 0 else "its graph has no nodes"
        raise OnnxConversionError(f"{path}: not an ONNX model ({empty})")
    props = {p.key: p.value for p in proto.metadata_props}
    recorded = props.pop(GRAPH_DIGEST, None)
    if recorded is not None and recorded != content_digest(proto.graph, props):
        raise OnnxConversionError(
            f"{path}: corrupted: its graph or metadata does not match the sha256 recorded when "
            f"fraud-app exported it ({GRAPH_DIGEST}); copy or export the file again"
        )
    return proto


def _load_external_data(onnx: Any, proto: Any, path: Path) -> None:
    """Read the tensors `proto` keeps in external files, each checked first: a relative path
    to a regular file inside the ONNX file's folder (no `..`, absolute path or symbolic
    link), holding the bytes its offset and length name. onnx >= 1.17 (our lowest pin)
    refuses most of these itself; these checks keep the rule whatever onnx does, and refuse
    a length beyond the file before anything of that length is allocated."""
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    folder = path.resolve().parent
    external = [t for t in _get_all_tensors(proto) if uses_external_data(t)]
    for tensor in external:
        info = ExternalDataInfo(tensor)
        where = Path(info.location or "")
        target = folder / where
        why = None
        if not info.location or where.is_absolute() or ".." in where.parts:
            why = "is not a relative path inside the model's folder"
        elif os.path.realpath(target) != os.path.normpath(target):
            why = "is or passes through a symbolic link"
        elif not target.is_file():
            why = "is not a regular file in the model's folder"
        else:
            size, offset = target.stat().st_size, int(info.offset or 0)
            length = int(info.length) if info.length else max(size - offset, 0)
            if offset < 0 or length < 0 or offset + length > size:
                why = (
                    f"holds {size} bytes, fewer than the offset {offset} + length {length} it names"
                )
        if why is not None:
            raise OnnxConversionError(
                f"{path}: tensor {tensor.name!r} keeps its data in an external file "
                f"{info.location!r}, which {why}; fraud-app reads external data only from "
                "files in the ONNX file's own folder (it never follows a path out of it). "
                "Keep the data files beside the .onnx file, or save the model with its data "
                "inside (onnx.save_model(..., save_as_external_data=False))"
            )
    if external:
        try:
            onnx.load_external_data_for_model(proto, os.fspath(folder))
        except Exception as exc:  # onnx's own checks of the same locations
            raise OnnxConversionError(f"{path}: external data not readable ({exc})") from exc


def check_onnx(proto: Any, what: str = "the ONNX model") -> Any:
    """`proto` if `onnx.checker.check_model(full_check=True)` accepts it (the graph's
    structure, its opsets, and strict shape and type inference: an int64 weight beside a
    float input, which onnxruntime refuses, was cast to float32 and imported); else one
    OnnxConversionError line saying what the checker found. Called after the graph was
    converted: the conversion's own errors (unsupported ops, mismatched widths, a branch)
    name the node in our terms first; the checker refuses what they let through."""
    onnx = require_onnx()
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise OnnxConversionError(
            f"{what}: refused by the ONNX checker (onnx.checker.check_model, full check): "
            f"{why[:400]}{'...' if len(why) > 400 else ''}; fix the graph or export it again"
        ) from None
    return proto


@dataclass
class _Graph:
    consts: dict[str, np.ndarray]
    producers: dict[str, Any]
    nodes: list[Any]
    input_name: str
    input_width: int | None
    output_dims: dict[str, list]
    unread: dict[str, OnnxConversionError]  # Constants we cannot read: named if an output uses one


def _tensor(onnx: Any, tensor: Any, owner: str = "") -> np.ndarray:
    """A weight tensor as an array; one whose type or size does not fit its shape (a damaged
    file) is named (it was a ValueError / KeyError traceback from onnx.numpy_helper)."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:  # only a ModelProto given in memory
        raise OnnxConversionError(
            f"tensor {tensor.name or owner!r} keeps its data in an external file, which a model given "
            "in memory has no folder for (onnx reads it relative to the working directory): "
            "give the .onnx file's path instead, or load it with its external data first "
            "(onnx.load_model(path))"
        )
    try:
        return onnx.numpy_helper.to_array(tensor)
    except (ValueError, KeyError, TypeError) as exc:
        raise OnnxConversionError(
            f"tensor {tensor.name or owner!r} cannot be read ({type(exc).__name__}: {exc}): its data does "
            "not fit its type and shape; the file is damaged or not a valid ONNX model"
        ) from exc


def _constant(onnx: Any, node: Any) -> np.ndarray:
    for attr in node.attribute:
        if attr.name == "value":  # its tensor is often unnamed: the node's output names it
            return _tensor(onnx, attr.t, f"{node.output[0]} (Constant node {node.name!r})")
        if attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
            return np.asarray(onnx.helper.get_attribute_value(attr))
    raise OnnxConversionError(
        f"Constant node {node.name!r}: only tensor, float and int values are supported"
    )


def _dims(value_info: Any) -> list:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def _read_graph(onnx: Any, proto: Any) -> _Graph:
    graph = proto.graph
    consts, unread = {t.name: _tensor(onnx, t) for t in graph.initializer}, {}
    for node in (n for n in graph.node if n.op_type == "Constant"):
        try:  # another output's string labels were refused though --output needs none
            consts[node.output[0]] = _constant(onnx, node)
        except OnnxConversionError as exc:
            unread[node.output[0]] = exc
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxConversionError(
            f"the graph has inputs {[i.name for i in inputs]}; dlcore imports a graph with ONE "
            "input, a float32 [batch, n_features] matrix"
        )
    inp = inputs[0]
    elem, dims = inp.type.tensor_type.elem_type, _dims(inp)
    if elem != onnx.TensorProto.FLOAT or len(dims) != 2:
        known = elem in onnx.TensorProto.DataType.values()
        kind = onnx.TensorProto.DataType.Name(elem) if known else f"of unknown type {elem}"
        raise OnnxConversionError(
            f"graph input {inp.name!r} is {kind} with {len(dims)} dimensions; dlcore imports a "
            "float32 [batch, n_features] input. Re-export with a 2-D float32 input"
        )
    nodes = list(graph.node)  # the same objects in `producers` (`_used_nodes` keeps ids)
    producers = {o: n for n in nodes if n.op_type != "Constant" for o in n.output if o}
    outputs = {o.name: _dims(o) for o in graph.output}
    return _Graph(consts, producers, nodes, inp.name, dims[1], outputs, unread)


def _check_ops(proto: Any, nodes: list[Any], allowed: tuple[str, ...]) -> None:
    check_opset(proto, [n for n in nodes if n.op_type in allowed])  # unread ops: named below
    bad: dict[str, list[str]] = defaultdict(list)
    for i, node in enumerate(nodes):
        if node.domain not in ("", "ai.onnx"):
            bad[f"{node.domain}.{node.op_type}"].append(node.name or f"#{i}")
        elif node.op_type not in allowed and node.op_type != "Constant":
            bad[node.op_type].append(node.name or f"#{i}")
    if bad:
        listed = "; ".join(f"{op} (nodes {names})" for op, names in sorted(bad.items()))
        raise UnsupportedOnnxOpError(
            f"the graph uses ops with no dlcore layer: {listed}. Supported ops: "
            f"{', '.join(SUPPORTED_OPS)} (and Constant). Remove or replace those nodes "
            "(e.g. export without them) before importing"
        )


def _used_nodes(g: _Graph, output: str) -> list[Any]:
    """The nodes `output` depends on: a label output's Greater / Cast / ArgMax beside the
    probability named with --output was refused as an op with no dlcore layer."""
    seen, todo = set(), [output]
    while todo:
        if todo[-1] in g.unread:
            raise g.unread[todo[-1]]
        node = g.producers.get(todo.pop())
        if node is not None and id(node) not in seen:
            seen.add(id(node))
            todo.extend(node.input)
    return [n for n in g.nodes if id(n) in seen]


def _chain(g: _Graph, output: str) -> list[Step]:
    """The nodes from the graph input to `output`, in order; each has ONE non-constant input."""
    steps, tensor = [], output
    while tensor != g.input_name:
        if len(steps) > len(g.nodes):
            raise OnnxConversionError("the graph has a cycle; it is not a valid ONNX graph")
        node = g.producers.get(tensor)
        if node is None:
            raise OnnxConversionError(
                f"tensor {tensor!r} is neither computed by a node nor the graph input "
                f"{g.input_name!r}; the graph cannot be read as a chain of layers"
            )
        data = [k for k, name in enumerate(node.input) if name and name not in g.consts]
        branch = _ramp_branch(g, node) if node.op_type == "Concat" else None
        if branch is not None:  # [x, ramps(x)]: one layer, PiecewiseLinear
            steps.append(Step(node, 0, branch))
            tensor = node.input[0]
            continue
        if len(data) != 1:
            raise OnnxConversionError(
                f"node {node.name!r} ({node.op_type}) has {len(data)} non-constant inputs; dlcore "
                "imports a chain of layers from the input to the output (no branches)"
            )
        steps.append(Step(node, data[0]))
        tensor = node.input[data[0]]
    if not steps:
        raise OnnxConversionError(f"output {output!r} is the input itself: the graph has no layers")
    return steps[::-1]


def _ramp_branch(g: _Graph, concat: Any) -> tuple[Any, ...] | None:
    """(Gather, Sub, Mul, Clip) when `concat` is Concat(x, Clip(Mul(Sub(Gather(x, .), .), .)))
    along the feature axis, the piecewise-linear encoding `onnx_export` writes; else None."""
    attrs = {a.name: a.i for a in concat.attribute}
    if len(concat.input) != 2 or attrs.get("axis") not in (1, -1):
        return None
    nodes, tensor = [], concat.input[1]
    for op in reversed(RAMP_OPS):
        node = g.producers.get(tensor)
        if node is None or node.op_type != op or any(n not in g.consts for n in node.input[1:]):
            return None
        nodes.append(node)
        tensor = node.input[0]
    return tuple(nodes[::-1]) if tensor == concat.input[0] else None


def _parts(onnx: Any, g: _Graph, output: str, strip_prefix: str = "") -> tuple[list[Part], int]:
    ctx = Context(onnx, g.consts, strip_prefix)
    steps = _chain(g, output)
    width = g.input_width or first_width(ctx, steps)
    parts = convert_chain(ctx, steps, width)
    declared = g.output_dims.get(output, [])
    if len(declared) == 2 and declared[1] not in (None, parts[-1].width):
        raise OnnxConversionError(
            f"graph output {output!r} is declared with {declared[1]} columns but its nodes "
            f"compute {parts[-1].width}: mismatched shapes"
        )
    return parts, width


def _build(parts: list[Part], width: int) -> Model:
    """A dlcore Model of `parts`, with their arrays loaded (one flat ParamBuffer)."""
    check_finite(parts)
    model = Model(Sequential([p.layer for p in parts], name="model"), in_features=width)
    for p in parts:
        for key, value in p.params.items():
            model.params.view(f"{p.layer.name}.{key}")[...] = value
    model.layer.load_state(
        {f"{p.layer.name}.{k}": v.astype(model.dtype) for p in parts for k, v in p.state.items()}
    )
    return model


def _pick_output(proto: Any, output: str | None) -> str:
    names = [o.name for o in proto.graph.output]
    if output is None and len(names) == 1:
        return names[0]
    if output not in names:
        asked = "" if output is None else f"there is no output {output!r}; "
        raise OnnxConversionError(
            f"{asked}the graph has outputs {names}: choose the one to import with "
            "`import-onnx --output NAME` (Python: output=NAME), e.g. the logit or probability "
            "of the fraud class"
        )
    return output


def _sigmoid_end(parts: list[Part]) -> int | None:
    """Index of the final Sigmoid, also when Identity / Dropout (no-ops at inference) follow
    it (a renaming Identity at the output: the ensemble applied its sigmoid to p); or None."""
    end = len(parts)
    while end > 1 and isinstance(parts[end - 1].layer, Dropout):
        end -= 1
    return end - 1 if end > 1 and isinstance(parts[end - 1].layer, Sigmoid) else None


def model_from_onnx(source: Any, *, output: str | None = None) -> Model:
    """A dlcore Model computing graph output `output` (default: the only output)."""
    onnx = require_onnx()
    proto = load_onnx(source)
    g, chosen = _read_graph(onnx, proto), _pick_output(proto, output)
    _check_ops(proto, _used_nodes(g, chosen), SUPPORTED_OPS)
    parts, width = _parts(onnx, g, chosen)
    check_onnx(proto, _name(source))
    return _build(parts, width)


def _name(source: Any) -> str:
    return "the ONNX model" if hasattr(source, "graph") else str(source)


def _ensemble_members(onnx: Any, g: _Graph) -> list[Model]:
    """Members of an `ensemble_to_onnx` graph: ReduceMean(Concat(Sigmoid(member_k)...))."""
    reduce = g.producers.get(PROBABILITY)
    concat = g.producers.get(MEMBER_PROBABILITIES)
    if not _combines_per_row(onnx, g, reduce, concat):
        raise OnnxConversionError(
            f"the file says it is a fraud_app ensemble but output {PROBABILITY!r} is not the "
            f"ReduceMean of {MEMBER_PROBABILITIES!r} over the members of each row (axis 1, "
            "keepdims 0, the members concatenated along axis 1), as export-onnx writes it"
        )
    members = []
    for k, prob in enumerate(concat.input):
        sigmoid = g.producers.get(prob)
        if sigmoid is None or sigmoid.op_type != "Sigmoid":
            raise OnnxConversionError(f"ensemble member {k}: {prob!r} is not a Sigmoid output")
        parts, width = _parts(onnx, g, sigmoid.input[0], member_prefix(k))
        members.append(_build(parts, width))
    return members


def _combines_per_row(onnx: Any, g: _Graph, reduce: Any, concat: Any) -> bool:
    """The combine step is ReduceMean(Concat(..., axis=1), axes=[1], keepdims=0): a file
    without the digest whose ReduceMean had axes [0] (each member's mean over the batch,
    what onnxruntime returned) was imported as the per-row mean without a word."""
    if reduce is None or reduce.op_type != "ReduceMean" or concat is None:
        return False
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in reduce.attribute}
    axes = attrs.get("axes")
    if len(reduce.input) > 1 and reduce.input[1]:  # opset 18: axes is an input
        axes = g.consts.get(reduce.input[1])
    joined = {a.name: a.i for a in concat.attribute}.get("axis")
    return (
        concat.op_type == "Concat"
        and joined in (1, -1)
        and list(reduce.input[:1]) == [MEMBER_PROBABILITIES]
        and axes is not None
        and np.asarray(axes).reshape(-1).tolist() in ([1], [-1])
        and attrs.get("keepdims", 1) == 0
    )


@dataclass(frozen=True)
class ImportedEnsemble:
    """An imported ensemble and what the file said of where it came from (metadata that is
    not the ensemble's own, so `ensemble_from_onnx` alone dropped it).

    - `model_version`: export-onnx's `model_version` metadata, else the ModelProto's own
      `model_version` field (other exporters); None when the file records neither. Give
      it to `ensemble_to_onnx(ensemble, model_version=...)` to export the same version.
    - `model_uri`: the `model_uri` metadata export-onnx wrote (a registry URI or the
      exporter's local path), as written; None when absent.
    - `producer`: the file's `producer_name` and `producer_version` ("fraud-app", "pytorch
      2.3"); "" when it names none.
    """

    ensemble: Any  # FraudEnsemble
    model_version: str | None
    model_uri: str | None
    producer: str


def ensemble_from_onnx(
    source: Any, *, feature_names: list[str] | None = None, output: str | None = None
) -> Any:
    """A FraudEnsemble from an ONNX file (see the module docstring). `output`: the graph
    output to import when a graph from elsewhere has several (a file written by
    `ensemble_to_onnx` always imports whole). The file's model version and origin:
    `import_ensemble`."""
    return import_ensemble(source, feature_names=feature_names, output=output).ensemble


def import_ensemble(
    source: Any, *, feature_names: list[str] | None = None, output: str | None = None
) -> ImportedEnsemble:
    """`ensemble_from_onnx`'s ensemble with the model version and origin the file records."""
    from fraud_app.models.ensemble import FraudEnsemble

    onnx = require_onnx()
    proto = load_onnx(source)
    meta = {p.key: p.value for p in proto.metadata_props}
    g = _read_graph(onnx, proto)
    if meta.get("fraud_app.format") == ENSEMBLE_FORMAT:
        if output not in (None, PROBABILITY):  # it imported the whole ensemble silently
            raise OnnxConversionError(
                f"output {output!r}: this file was written by export-onnx and imports whole "
                f"(members and their mean, {PROBABILITY!r}); leave out --output"
            )
        _used_nodes(g, PROBABILITY)  # names a Constant it reads that we cannot read
        _check_ops(proto, g.nodes, SUPPORTED_OPS + _ENSEMBLE_OPS)
        members = _ensemble_members(onnx, g)
        metadata = json_prop(meta, "ensemble_metadata", "{}", dict)
    else:
        chosen = _pick_output(proto, output)
        _check_ops(proto, _used_nodes(g, chosen), SUPPORTED_OPS)
        parts, width = _parts(onnx, g, chosen)
        end = _sigmoid_end(parts)
        if end is not None:
            parts = parts[:end]
        else:
            logger.warning(
                "the ONNX graph does not end in a Sigmoid; its output is taken as a logit"
            )
        if parts[-1].width != 1:
            raise OnnxConversionError(
                f"the graph outputs {parts[-1].width} values per row; an ensemble member must "
                "output one fraud logit (or probability) per row"
            )
        members = [_build(parts, width)]
        metadata = {"source": "onnx", "producer": proto.producer_name}
    check_onnx(proto, _name(source))
    names = feature_names_of(meta, feature_names, members[0].in_features)
    producer = " ".join(x for x in (proto.producer_name, proto.producer_version) if x)
    return ImportedEnsemble(
        FraudEnsemble(members, names, metadata),
        model_version=file_version(proto),
        model_uri=meta.get("model_uri") or None,
        producer=producer,
    )
