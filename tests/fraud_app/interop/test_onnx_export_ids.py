"""An exported embedding refuses the ids dlcore refuses: onnxruntime fails the run on an id
outside a column's vocabulary, a negative, fractional, NaN or infinite id. ONNX Gather alone
scored them: an unseen category of one column read a row of the next column's table (id 5
of 5 categories + its offset), a negative id counted from the end, 2.5 was read as 2."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

import onnxruntime as ort

from dlcore.errors import ShapeError
from dlcore.layers import FeatureEmbedding, Linear, ReLU, Sequential
from dlcore.model import Model
from fraud_app.interop.onnx_export import ensemble_to_onnx, model_to_onnx
from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.interop.onnx_cases import ATOL, RTOL, inputs, layer_model, ort_run

# (case, column, bad ids): feature_embedding's column 0 has 5 categories, the
# only-ids case's column 0 has 3, embedding's table 9 rows
CASES = [
    ("feature_embedding", 0, [5.0, 6.0, -1.0, 2.5, np.nan, np.inf, 1e30]),
    ("feature_embedding_only_ids", 0, [3.0, 5.0, 9.0, -1.0, 0.5, np.nan]),
    ("embedding", 2, [9.0, -1.0, -9.0, 2.5, np.nan]),
]


@pytest.mark.parametrize("case, column, bad", CASES, ids=[c[0] for c in CASES])
def test_an_id_dlcore_refuses_fails_the_onnxruntime_run(case, column, bad):
    model = layer_model(case)
    proto = model_to_onnx(model)
    X = inputs(case, rows=256)
    np.testing.assert_allclose(ort_run(proto, X)[0], model.predict(X), rtol=RTOL, atol=ATOL)
    scored = []
    for value in bad:
        Y = X[:4].copy()
        Y[1, column] = value
        with pytest.raises(ShapeError):
            model.predict(Y)
        try:
            ort_run(proto, Y)
        except ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
            assert "indices element out of data bounds" in str(exc)
        else:
            scored.append(value)
    assert scored == []


def test_an_exported_ensemble_of_embedding_members_refuses_an_unseen_category():
    def member(seed: int) -> Model:
        layers = Sequential([FeatureEmbedding([0, 2], [3, 4], 2), ReLU(), Linear(1)])
        return Model(layers, in_features=3, seed=seed)

    ensemble = FraudEnsemble([member(0), member(1)], ["country", "amount", "mcc"], {})
    X = np.array([[0.0, 1.5, 3.0], [2.0, -0.5, 0.0], [1.0, 0.2, 1.0]], dtype=np.float32)
    proto = ensemble_to_onnx(ensemble)
    np.testing.assert_allclose(ort_run(proto, X, "fraud_probability"),
                               ensemble.predict_proba(X), rtol=RTOL, atol=ATOL)  # fmt: skip
    X[1, 0] = 3.0  # an unseen country: it scored with mcc's first embedding row
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument):
        ort_run(proto, X, "fraud_probability")
