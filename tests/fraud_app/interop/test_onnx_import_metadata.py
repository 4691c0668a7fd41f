"""ONNX -> dlcore: what a damaged or edited file is told. Our own files carry a sha256 of
graph and metadata (a flipped byte is refused); a foreign file's metadata and tensors are
checked for type and shape, and the error names the metadata key or the tensor."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

import onnx
from onnx import helper

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_export import ensemble_to_onnx
from fraud_app.interop.onnx_import import ensemble_from_onnx, model_from_onnx
from tests.fraud_app.interop.onnx_cases import inputs, make_ensemble
from tests.fraud_app.interop.test_onnx_import import const, graph_model, torch_style

RNG = np.random.default_rng(11)


def _exported(tmp_path):
    from fraud_app.interop.onnx_export import save_onnx

    ensemble = make_ensemble(2)
    path = save_onnx(ensemble_to_onnx(ensemble), tmp_path / "e.onnx")
    return ensemble, path, path.read_bytes()


def test_a_damaged_byte_in_a_weight_or_a_feature_name_is_refused(tmp_path):
    """One flipped byte in a weight, or a feature name changed, still parses: the file
    loaded with other weights (or scored the wrong columns) without a word."""
    ensemble, path, data = _exported(tmp_path)
    weight = np.ascontiguousarray(ensemble.members[0].params.data[:4]).tobytes()
    spots = {"weight": data.index(weight) + 2, "feature name": data.index(b'"f3"') + 2}
    for what, pos in spots.items():
        bad = tmp_path / f"bad-{what.replace(' ', '_')}.onnx"
        bad.write_bytes(data[:pos] + bytes([data[pos] ^ 0x04]) + data[pos + 1 :])
        with pytest.raises(OnnxConversionError, match=r"bad-.*\.onnx: corrupted: its graph or "
                           r"metadata does not match the sha256 recorded"):  # fmt: skip
            ensemble_from_onnx(bad)
    X = inputs("fraud_mlp")
    np.testing.assert_allclose(ensemble_from_onnx(path).predict_proba(X),
                               ensemble.predict_proba(X), rtol=1e-6)  # fmt: skip


def test_damaged_metadata_json_is_named(tmp_path):
    _, path, _ = _exported(tmp_path)
    proto = onnx.load_model(str(path))
    props = {p.key: p.value for p in proto.metadata_props if p.key != "fraud_app.sha256"}
    del proto.metadata_props[:]
    helper.set_model_props(proto, {**props, "feature_names": '["f0", "f1'})  # no digest: unchecked
    with pytest.raises(OnnxConversionError, match=r"metadata_props 'feature_names' is not valid "
                       r"JSON"):  # fmt: skip
        ensemble_from_onnx(proto)


@pytest.mark.parametrize(
    "value, kind",
    [('"abcd"', "str"), ('{"f1": 1, "f0": 0, "f2": 2, "f3": 3}', "dict")],
)
def test_feature_names_metadata_that_is_no_json_list_is_named(value, kind):
    """A foreign file's feature_names of another JSON type: a string of 4 letters was read as
    the names a, b, c, d, and a name -> index map as its keys in file order (f1 first)."""
    proto = torch_style()
    helper.set_model_props(proto, {"feature_names": value})
    with pytest.raises(OnnxConversionError, match=rf"metadata_props 'feature_names' is a JSON "
                       rf"{kind}, expected a JSON list; .*give --feature-names"):  # fmt: skip
        ensemble_from_onnx(proto)
    names = ["x0", "x1", "x2", "x3"]
    assert ensemble_from_onnx(proto, feature_names=names).feature_names == names


@pytest.mark.parametrize(
    "value", ["[1, 2, 3, 4]", '["a", null, "c", "d"]', '["a", ["b"], "c", "d"]']
)
def test_feature_names_metadata_holding_no_strings_is_named(value):
    """A JSON list of numbers or nulls got past the list check and was refused by the
    ensemble (`feature names must be non-empty, unique strings`), naming neither the
    metadata nor --feature-names."""
    proto = torch_style()
    helper.set_model_props(proto, {"feature_names": value})
    with pytest.raises(OnnxConversionError, match=r"metadata_props 'feature_names' is a JSON list, "
                       r"expected a JSON list of strings \(it holds .*give --feature-names"):  # fmt: skip
        ensemble_from_onnx(proto)


def test_empty_feature_names_are_a_count_mismatch_not_the_default_names():
    """`[]` in the metadata (or feature_names=[]) imported with feature_000.. names."""
    proto = torch_style()
    helper.set_model_props(proto, {"feature_names": "[]"})
    with pytest.raises(OnnxConversionError, match=r"0 feature names are in metadata "
                       r"'feature_names' but the model takes 4 features"):  # fmt: skip
        ensemble_from_onnx(proto)
    with pytest.raises(OnnxConversionError, match=r"0 feature names were given but .* 4 features"):
        ensemble_from_onnx(torch_style(), feature_names=[])
    assert ensemble_from_onnx(torch_style()).feature_names[0] == "feature_000"


def test_a_damaged_tensor_or_type_in_a_foreign_file_is_named():
    """Files without our digest (PyTorch, Keras): a weight whose data does not fit its shape,
    or an input of no known type, ended in ValueError / KeyError tracebacks."""
    W = const("W", RNG.normal(size=(4, 1)))
    W.dims[0] = 93  # 4 values of data, shape (93, 1)
    proto = graph_model([helper.make_node("Gemm", ["x", "W"], ["y"], name="fc")], [W], check=False)
    with pytest.raises(OnnxConversionError, match=r"tensor 'W' cannot be read \(ValueError: .*\): "
                       r"its data does not fit its type and shape"):  # fmt: skip
        model_from_onnx(proto)
    W = const("W", RNG.normal(size=(4, 1)))
    W.data_type = 84
    proto = graph_model([helper.make_node("Gemm", ["x", "W"], ["y"], name="fc")], [W], check=False)
    with pytest.raises(OnnxConversionError, match=r"tensor 'W' cannot be read \(KeyError"):
        model_from_onnx(proto)
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    proto = graph_model([node], [], in_type=84, check=False)
    with pytest.raises(OnnxConversionError, match=r"graph input 'x' is of unknown type 84"):
        model_from_onnx(proto)
