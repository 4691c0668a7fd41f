"""Foreign ONNX graphs pass `onnx.checker.check_model(full_check=True)` before import:
a graph the checker refuses (here: int64 / float16 weights beside a float input, which
onnxruntime refuses too) was cast to float32 and imported; now one error line naming the
check and what it found. Graphs `export-onnx` writes still pass."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_export import ensemble_to_onnx
from fraud_app.interop.onnx_import import check_onnx, ensemble_from_onnx, model_from_onnx
from pipelines.cli import main
from tests.fraud_app.interop.onnx_cases import make_ensemble

CHECKER = r"refused by the ONNX checker \(onnx\.checker\.check_model, full check\): "


def _gemm(weight: np.ndarray) -> onnx.ModelProto:
    """x float[N, 4] -> Gemm(x, W) -> y[N, 1], as another tool could write it."""
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W"], ["y"], name="fc")], "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(weight, "W")],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("dtype", [np.int64, np.float16])
def test_a_weight_of_another_type_than_the_input_is_refused_by_the_checker(dtype, tmp_path):
    proto = _gemm(np.arange(4, dtype=dtype).reshape(4, 1))
    path = tmp_path / "foreign.onnx"
    onnx.save_model(proto, str(path))
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.Fail):  # onnxruntime refuses it too
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for load in (model_from_onnx, ensemble_from_onnx):
        with pytest.raises(OnnxConversionError) as got:
            load(str(path))
        msg = str(got.value)
        assert "\n" not in msg and msg.startswith(f"{path}: refused by the ONNX checker")
        assert "fc" in msg or "Gemm" in msg  # the node the check failed on
    with pytest.raises(OnnxConversionError, match=f"^the ONNX model: {CHECKER}"):
        ensemble_from_onnx(proto)  # a proto given in Python, not a file


def test_import_onnx_prints_one_line_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "foreign.onnx"
    onnx.save_model(_gemm(np.ones((4, 1), dtype=np.int64)), str(path))
    assert main(["import-onnx", str(path), str(tmp_path / "ens")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {path}: refused by the ONNX checker (onnx.checker.check_model")
    assert not (tmp_path / "ens").exists()


def test_the_same_graph_with_float32_weights_imports(tmp_path):
    path = tmp_path / "foreign.onnx"
    onnx.save_model(_gemm(np.ones((4, 1), dtype=np.float32)), str(path))
    assert len(ensemble_from_onnx(str(path)).members) == 1


def test_graphs_we_export_pass_the_full_check(tmp_path):
    proto = ensemble_to_onnx(make_ensemble(3))
    assert check_onnx(proto) is proto
    path = tmp_path / "ours.onnx"
    onnx.save_model(proto, str(path))
    assert len(ensemble_from_onnx(str(path)).members) == 3
