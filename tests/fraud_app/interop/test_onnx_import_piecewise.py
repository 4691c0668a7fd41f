"""ONNX -> dlcore, the piecewise-linear input encoding: an exported ensemble of encoded
members imports and scores the same, and a ramp encoding built elsewhere with the onnx
helper API (Gather, Sub, Mul, Clip, Concat) imports, while ramps that clip elsewhere than
[0, 1] or gather columns out of order are named. Split from test_onnx_import.py."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

from onnx import helper

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_export import ensemble_to_onnx
from fraud_app.interop.onnx_import import ensemble_from_onnx, model_from_onnx
from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.interop.onnx_cases import ATOL, RTOL, inputs, layer_model, ort_run
from tests.fraud_app.interop.test_onnx_import import X4, const, graph_model

RNG = np.random.default_rng(7)


def test_an_exported_ensemble_of_encoded_members_imports_and_scores_the_same():
    """The default training config (piecewise-linear encoding) exported, imported back:
    the same probabilities as dlcore and as onnxruntime, rows beyond every bin included."""
    from tests.fraud_app.interop.onnx_cases import N_FEATURES

    models = [layer_model("fraud_mlp_encoded", seed=k) for k in range(3)]
    names = [f"f{i}" for i in range(N_FEATURES)]
    ensemble = FraudEnsemble(models, names, {"members": 3})
    first = ensemble_to_onnx(ensemble, model_version="1")
    back = ensemble_from_onnx(first)
    X = inputs("fraud_mlp_encoded", rows=200)
    X = np.vstack([X, X * 100, np.zeros((2, N_FEATURES), np.float32)]).astype(np.float32)
    np.testing.assert_allclose(back.predict_proba(X), ensemble.predict_proba(X), rtol=1e-6)
    np.testing.assert_allclose(
        ort_run(first, X, "fraud_probability"), ensemble.predict_proba(X), rtol=RTOL, atol=ATOL
    )
    assert (
        ensemble_to_onnx(back, model_version="1").SerializeToString() == first.SerializeToString()
    )


def _ramps(clip_max=1.0, columns=(0, 0, 1, 1, 2, 2, 3, 3)):
    nodes = [
        helper.make_node("Gather", ["x", "cols"], ["g"], name="enc/Gather", axis=1),
        helper.make_node("Sub", ["g", "lower"], ["s"], name="enc/Sub"),
        helper.make_node("Mul", ["s", "inv"], ["m"], name="enc/Mul"),
        helper.make_node("Clip", ["m", "lo", "hi"], ["c"], name="enc/Clip"),
        helper.make_node("Concat", ["x", "c"], ["e"], name="enc/Concat", axis=1),
        helper.make_node("Gemm", ["e", "W"], ["y"], name="fc"),
    ]
    inits = [const("cols", np.asarray(columns, np.int64)), const("lower", RNG.normal(size=8)),
             const("inv", RNG.uniform(0.5, 2, size=8)), const("lo", 0.0), const("hi", clip_max),
             const("W", RNG.normal(size=(12, 1)))]  # fmt: skip
    return graph_model(nodes, inits)


def test_a_piecewise_linear_graph_from_elsewhere_imports_and_bad_ones_are_named():
    proto = _ramps()
    X = X4()
    np.testing.assert_allclose(model_from_onnx(proto).predict(X), ort_run(proto, X)[0], rtol=RTOL,
                               atol=ATOL)  # fmt: skip
    with pytest.raises(OnnxConversionError, match=r"'enc/Clip' \(Clip\): clips to \[0\.0, 2\.0\]"):
        model_from_onnx(_ramps(clip_max=2.0))
    with pytest.raises(OnnxConversionError, match=r"'enc/Gather' \(Gather\): gathers columns"):
        model_from_onnx(_ramps(columns=(0, 1, 2, 3, 0, 1, 2, 3)))
    gather_alone = graph_model(
        [helper.make_node("Gather", ["x", "cols"], ["g"], name="pick", axis=1),
         helper.make_node("Gemm", ["g", "W"], ["y"], name="fc")],
        [const("cols", np.asarray([0, 2], np.int64)), const("W", RNG.normal(size=(2, 1)))],
    )  # fmt: skip
    with pytest.raises(OnnxConversionError, match=r"'pick' \(Gather\): Gather is imported only "
                       r"inside a piecewise-linear encoding"):  # fmt: skip
        model_from_onnx(gather_alone)
