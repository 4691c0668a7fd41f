"""import-onnx reads an op by the meaning its declared ai.onnx opset gives it: a file
declaring an opset after the last one checked (99 imported, each op read by its opset-17
meaning), before opset 7, or none at all is refused naming the opset and the range;
opsets up to 28 import as opset 17 does (the ops we map are the same there, see
fraud_app.interop.onnx_opsets)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

from onnx import TensorProto, helper, numpy_helper

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_export import ensemble_to_onnx
from fraud_app.interop.onnx_import import ensemble_from_onnx, model_from_onnx
from tests.fraud_app.interop.onnx_cases import make_ensemble, ort_run

W = np.array([[0.5], [-1.0], [2.0]], np.float32)


def _graph(opsets, between=(), w=W):
    """features -> MatMul(W) -> `between` (nodes from `logit` to their last output) ->
    Sigmoid -> prob, declaring `opsets` ((domain, version) pairs)."""
    between = list(between)
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["logit"], name="dense"),
        *between,
        helper.make_node(
            "Sigmoid", [between[-1].output[0] if between else "logit"], ["prob"], name="sigmoid"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(w, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


@pytest.mark.parametrize("version", [99, 29, 6])
def test_an_opset_outside_the_checked_range_is_refused_naming_it(version):
    proto = _graph([("", version)])
    for load in (ensemble_from_onnx, model_from_onnx):
        with pytest.raises(
            OnnxConversionError,
            match=f"declares ai.onnx opset {version}; fraud-app imports ai.onnx opsets 7 to 28",
        ):
            load(proto)


def test_a_file_declaring_no_ai_onnx_opset_is_refused():
    proto = _graph([("com.example", 1)])
    with pytest.raises(OnnxConversionError, match=r"declares no ai.onnx opset .*com.example"):
        ensemble_from_onnx(proto)


@pytest.mark.parametrize("opsets", [[("", 28)], [("ai.onnx", 21)], [("", 17), ("ai.onnx.ml", 3)]])
def test_opsets_whose_ops_we_map_are_unchanged_import_as_opset_17_does(opsets):
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    expected = ensemble_from_onnx(_graph([("", 17)])).predict_proba(X)
    np.testing.assert_allclose(ensemble_from_onnx(_graph(opsets)).predict_proba(X), expected)
    np.testing.assert_allclose(expected, ort_run(_graph([("", 17)]), X, "prob")[:, 0], rtol=1e-5)


def test_an_export_onnx_file_edited_to_opset_18_is_refused_at_its_reduce_mean():
    """ReduceMean-18 takes `axes` as an input; the ensemble reader reads the attribute form."""
    proto = ensemble_to_onnx(make_ensemble(2), model_version="3")
    proto.opset_import[0].version = 18
    with pytest.raises(OnnxConversionError, match=r"ReduceMean.*opset 18.*opsets 7 to 17"):
        ensemble_from_onnx(proto)


def test_a_reduce_mean_outside_an_ensemble_graph_is_named_unsupported_at_opset_18():
    """Only export-onnx files have their ReduceMean read; another graph's ReduceMean at
    opset 18 was refused as `... Export it again with export-onnx` (it is not an export)."""
    mean = helper.make_node("ReduceMean", ["logit"], ["mean"], name="rm", keepdims=1)
    proto = _graph([("", 18)], between=[mean], w=np.ones((3, 2), np.float32))
    for load in (ensemble_from_onnx, model_from_onnx):
        with pytest.raises(OnnxConversionError, match=r"no dlcore layer: ReduceMean") as err:
            load(proto)
        assert "export-onnx" not in str(err.value)
