"""An export-onnx ensemble file is read member by member; its combine step must be the one
export-onnx writes (session 55, probe55b). A file without the sha256 digest (written by an
older release, or edited and the digest removed) whose ReduceMean averaged over the batch
(axes [0]: onnxruntime returned one mean per member) was imported as the mean of each
row's members, and scored otherwise than the file, without a word."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")

from fraud_app.errors import OnnxConversionError
from fraud_app.interop.onnx_export import GRAPH_DIGEST, ensemble_to_onnx
from fraud_app.interop.onnx_import import ensemble_from_onnx
from tests.fraud_app.interop.onnx_cases import inputs, make_ensemble, ort_run


def _without_digest(edit=None):
    proto = ensemble_to_onnx(make_ensemble(3))
    kept = [p for p in proto.metadata_props if p.key != GRAPH_DIGEST]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    if edit is not None:
        edit(next(n for n in proto.graph.node if n.op_type == "ReduceMean"))
    return proto


def test_a_file_without_its_digest_still_imports_and_scores_as_onnxruntime():
    proto = _without_digest()
    X = inputs("fraud_mlp", rows=6)
    np.testing.assert_allclose(
        ensemble_from_onnx(proto).predict_proba(X), ort_run(proto, X)[0], rtol=1e-5, atol=1e-6
    )


def _axes_0(node):
    next(a for a in node.attribute if a.name == "axes").ints[:] = [0]


def test_a_reduce_mean_over_the_batch_is_refused():
    proto = _without_digest(_axes_0)
    assert ort_run(proto, inputs("fraud_mlp", rows=6))[0].shape == (3,)  # what the file does
    with pytest.raises(
        OnnxConversionError,
        match=r"output 'fraud_probability' is not the ReduceMean of 'member_probabilities' over "
        r"the members of each row \(axis 1, keepdims 0",
    ):
        ensemble_from_onnx(proto)
