"""Which `ai.onnx` opsets `onnx_import` reads, and why.

An op's meaning is fixed by the opset the file declares (`opset_import`), not by its name:
the converters in `onnx_ops` read each op in the form they were checked against. A file
declaring an opset outside that range is refused naming the declared opset and the range
(opset 99 imported, each op read in its opset-17 form). Evidence, from onnx 1.23.2's
operator schemas (`onnx.defs.get_schema(op, opset).since_version`, and each version's
attributes, inputs and type constraints compared with the one before):

- opsets 18..28: every op we map keeps its attributes and inputs except ReduceMean-18,
  whose `axes` moved from an attribute to an input (read only in an `export-onnx` file,
  written at opset 17: refused from 18 on, `CHANGED_AT`); Constant-19/21/23/24/25,
  Identity-19/21/23/24/25 and Dropout-22 only add element types (float8, int4, float4,
  int2, bfloat16), which a float32 graph does not use. MAX_OPSET is the last opset
  checked: a newer one may change an op we map, so it is refused until checked.
- opsets below 7: Add / Sub / Mul / Div carried `broadcast` / `axis` attributes and Gemm
  a `broadcast` attribute (numpy broadcasting since opset 7); the converters read neither.
"""

from __future__ import annotations

from typing import Any

from fraud_app.errors import OnnxConversionError

MIN_OPSET = 7
MAX_OPSET = 28
CHANGED_AT = {"ReduceMean": 18}  # op -> the first opset whose form the converters do not read
_DEFAULT_DOMAINS = ("", "ai.onnx")


def declared_opset(proto: Any) -> int:
    """The `ai.onnx` opset `proto` declares; OnnxConversionError when it declares none or
    one outside MIN_OPSET..MAX_OPSET."""
    found = [o.version for o in proto.opset_import if o.domain in _DEFAULT_DOMAINS]
    supported = f"fraud-app imports ai.onnx opsets {MIN_OPSET} to {MAX_OPSET}"
    if not found:
        domains = [o.domain for o in proto.opset_import]
        raise OnnxConversionError(
            f"the file declares no ai.onnx opset (opset_import domains: {domains}), so what "
            f"its ops mean is not known; {supported}. Export it again with an ai.onnx opset"
        )
    version = max(found)
    if not MIN_OPSET <= version <= MAX_OPSET:
        newer = version > MAX_OPSET
        raise OnnxConversionError(
            f"the file declares ai.onnx opset {version}; {supported} (an op's meaning can "
            f"change between opsets, and {'opsets after' if newer else 'opsets before'} "
            f"{MAX_OPSET if newer else MIN_OPSET} were not checked against the ops we read). "
            f"Export it again with an opset in {MIN_OPSET}..{MAX_OPSET} (e.g. torch.onnx.export "
            "opset_version=17)"
        )
    return version


def check_opset(proto: Any, nodes: list[Any]) -> None:
    """The declared opset is in range, and no node in `nodes` is an op whose form in that
    opset the converters do not read (CHANGED_AT)."""
    version = declared_opset(proto)
    for node in nodes:
        since = CHANGED_AT.get(node.op_type)
        if node.domain in _DEFAULT_DOMAINS and since is not None and version >= since:
            raise OnnxConversionError(
                f"node {node.name!r} ({node.op_type}): the file declares ai.onnx opset "
                f"{version}, where {node.op_type} takes another form (since opset {since}); "
                f"fraud-app reads {node.op_type} of opsets {MIN_OPSET} to {since - 1}. Export "
                "it again with export-onnx"
            )
