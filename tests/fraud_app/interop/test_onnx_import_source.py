"""The Python API keeps what an ONNX file says of where it came from: `import_ensemble`
returns the model version, model URI and producer beside the ensemble (`ensemble_from_onnx`
returned the ensemble only, so an API round trip exported `model_version` ""), and
`ensemble_from_onnx` still returns the FraudEnsemble alone."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_export import ensemble_to_onnx, save_onnx
from fraud_app.interop.onnx_import import ensemble_from_onnx, import_ensemble
from fraud_app.models.ensemble import FraudEnsemble
from tests.fraud_app.interop.onnx_cases import inputs, make_ensemble
from tests.fraud_app.interop.test_onnx_import import torch_style


def test_an_exported_files_version_and_uri_come_back_with_the_ensemble(tmp_path):
    ensemble = make_ensemble(2)
    proto = ensemble_to_onnx(ensemble, model_version="7", model_uri="models:/fraud/7")
    path = save_onnx(proto, tmp_path / "e.onnx")
    got = import_ensemble(path)
    assert (got.model_version, got.model_uri, got.producer) == ("7", "models:/fraud/7", "fraud-app")
    X = inputs("fraud_mlp")
    # float64 members exported as float32 weights
    np.testing.assert_allclose(got.ensemble.predict_proba(X), ensemble.predict_proba(X), rtol=1e-6)
    # the API round trip exports the same file again, version included (it wrote "")
    again = ensemble_to_onnx(got.ensemble, model_version=got.model_version, model_uri=got.model_uri)
    assert again.SerializeToString() == proto.SerializeToString()
    # existing callers: the ensemble alone, as before
    assert isinstance(ensemble_from_onnx(path), FraudEnsemble)


def test_a_foreign_files_own_version_field_and_producer_are_kept():
    proto = torch_style()
    assert import_ensemble(proto).model_version is None  # it records none
    proto.model_version, proto.producer_name, proto.producer_version = 3, "pytorch", "2.3.0"
    got = import_ensemble(proto)
    assert (got.model_version, got.model_uri, got.producer) == ("3", None, "pytorch 2.3.0")
    assert got.ensemble.metadata == {"source": "onnx", "producer": "pytorch"}


@pytest.mark.parametrize(
    "given",
    [["f4", "f3", "f2", "f1", "f0"], ["f0", "f2", "x", "y", "z"]],
    ids=["reversed", "moved"],
)
def test_feature_names_given_in_another_order_than_the_file_records_are_refused(given):
    """`--feature-names` over an export-onnx file's own names, reordered: it imported, and
    every row was scored with f4's value read as f0 and so on."""
    proto = ensemble_to_onnx(make_ensemble(2))
    with pytest.raises(OnnxConversionError, match=r"feature names \['f.'.*\] are given at other "
                       r"positions than the file records them"):  # fmt: skip
        ensemble_from_onnx(proto, feature_names=given)
    renamed = ["amount", "f1", "f2", "hour", "f4"]  # new names in place: a renaming
    assert ensemble_from_onnx(proto, feature_names=renamed).feature_names == renamed
