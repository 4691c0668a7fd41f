"""dlcore -> ONNX: every shipped layer and a 5-member ensemble score the same in ONNX Runtime."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

import onnx

from dlcore.layers import Layer, Linear, Sequential
from dlcore.model import Model
from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_export import (
    OPSET,
    ensemble_to_onnx,
    model_to_onnx,
    save_onnx,
)
from fraud_app.interop.onnx_import import load_onnx
from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.interop.onnx_cases import (
    ATOL,
    EMBEDDING_CASES,
    IMPORTABLE,
    N_FEATURES,
    RTOL,
    inputs,
    layer_model,
    make_ensemble,
    ort_run,
)

ALL_CASES = [
    *IMPORTABLE,
    *EMBEDDING_CASES,
    "fraud_mlp",
    "fraud_mlp_encoded",
    "fraud_mlp_input_noise",
]


@pytest.mark.parametrize("case", ALL_CASES)
def test_every_layer_scores_the_same_in_onnxruntime(case, tmp_path):
    model = layer_model(case)
    X = inputs(case)
    path = save_onnx(model_to_onnx(model), tmp_path / f"{case}.onnx")  # runs the full checker
    proto = load_onnx(path)
    out = ort_run(proto, X, "logits")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict(X), rtol=RTOL, atol=ATOL)


def test_model_graph_contract():
    proto = model_to_onnx(layer_model("fraud_mlp"), model_version="7")
    graph = proto.graph
    assert [i.name for i in graph.input] == ["features"]
    assert [o.name for o in graph.output] == ["logits"]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", N_FEATURES]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.opset_import[0].version == OPSET >= 17
    assert proto.model_version == 7
    assert graph.output[0].doc_string


def test_five_member_ensemble_is_one_graph_returning_the_mean_probability(tmp_path):
    ensemble = make_ensemble(5)
    X = inputs("fraud_mlp", rows=200)
    proto = load_onnx(
        save_onnx(ensemble_to_onnx(ensemble, model_version="12"), tmp_path / "e.onnx")
    )
    prob, members = ort_run(proto, X)
    assert prob.shape == (200,) and members.shape == (200, 5)
    np.testing.assert_allclose(prob, ensemble.predict_proba(X), rtol=RTOL, atol=ATOL)
    for k, member in enumerate(ensemble.members):
        expected = 1.0 / (1.0 + np.exp(-member.predict(X).reshape(-1).astype(np.float64)))
        np.testing.assert_allclose(members[:, k], expected, rtol=RTOL, atol=ATOL)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["feature_names"]) == ensemble.feature_names
    assert meta["model_version"] == "12" and proto.model_version == 12
    assert meta["members"] == "5" and meta["combine"] == "mean_probability"
    assert json.loads(meta["ensemble_metadata"]) == ensemble.metadata
    assert float(meta["scoring_threshold"]) == 0.7


def test_ensemble_member_with_several_outputs_is_refused():
    wide = Model(Sequential([Linear(2)]), in_features=N_FEATURES)
    with pytest.raises(OnnxConversionError, match="member 0 outputs 2 values per row"):
        ensemble_to_onnx(FraudEnsemble([wide], [f"f{i}" for i in range(N_FEATURES)], {}))


def test_a_layer_without_onnx_mapping_is_named():
    class Doubler(Layer):
        def forward(self, X, training):
            return 2 * X, lambda dY: 2 * dY

    model = Model(Sequential([Linear(3), Doubler(name="twice")]), in_features=N_FEATURES)
    with pytest.raises(OnnxConversionError, match=r"layer 'twice' of type Doubler.*Linear"):
        model_to_onnx(model)


def test_checker_failure_is_a_conversion_error(tmp_path):
    proto = model_to_onnx(layer_model("relu"))
    proto.graph.node[0].input[1] = "no_such_tensor"
    with pytest.raises(OnnxConversionError, match="fails onnx.checker"):
        save_onnx(proto, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_exported_files_load_and_score_without_pickle(tmp_path, monkeypatch):
    path = save_onnx(ensemble_to_onnx(make_ensemble(2)), tmp_path / "e.onnx")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used to load an ONNX file")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    proto = onnx.load_model(str(path))
    prob, _ = ort_run(proto, inputs("fraud_mlp"))
    assert np.all((prob > 0) & (prob < 1))


@pytest.mark.parametrize("version", ["99999999999999999999999", "9223372036854775808", "٣", "v2"])
def test_a_version_that_is_no_int64_stays_in_the_metadata_only(version, tmp_path):
    # ModelProto.model_version is an int64: a longer number was a ValueError traceback
    ensemble = make_ensemble(2)
    path = save_onnx(ensemble_to_onnx(ensemble, model_version=version), tmp_path / "e.onnx")
    proto = load_onnx(path)
    assert proto.model_version == 0
    assert {p.key: p.value for p in proto.metadata_props}["model_version"] == version
