"""A real torch.onnx.export file imports into dlcore and scores like PyTorch (slow; needs torch)."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_app.interop.onnx_export import model_to_onnx
from fraud_app.interop.onnx_import import ensemble_from_onnx, model_from_onnx
from tests.fraud_app.interop.onnx_cases import ATOL, RTOL, ort_run

pytest.importorskip("onnx", reason="ONNX interop needs the 'onnx' extra")
pytest.importorskip("onnxruntime", reason="ONNX interop tests need onnxruntime")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(16)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 16),
        bn,
        torch.nn.LeakyReLU(0.1),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(16, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 1),
        torch.nn.Sigmoid(),
    )
    with torch.no_grad():  # non-trivial running statistics
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return net.eval()


def _export(net, path) -> None:
    args = (torch.zeros(2, 6),)
    kwargs = dict(
        input_names=["features"],
        output_names=["probability"],
        dynamic_axes={"features": {0: "batch"}, "probability": {0: "batch"}},
        opset_version=17,
    )
    try:
        torch.onnx.export(net, args, str(path), dynamo=False, **kwargs)
    except (TypeError, RuntimeError, ImportError) as exc:  # no TorchScript exporter here
        pytest.importorskip("onnxscript", reason=f"TorchScript exporter unavailable ({exc})")
        torch.onnx.export(net, args, str(path), dynamo=True, **kwargs)


@pytest.mark.slow
def test_torch_onnx_export_imports_and_scores_like_torch(tmp_path):
    net = _net()
    path = tmp_path / "torch.onnx"
    _export(net, path)
    X = np.random.default_rng(0).normal(0, 2, (256, 6)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
    model = model_from_onnx(path)
    kinds = [type(layer).__name__ for layer in model.layer.layers]
    assert kinds[:3] == ["Linear", "BatchNorm1d", "LeakyReLU"]  # BN stays trainable
    np.testing.assert_allclose(model.predict(X), expected, rtol=RTOL, atol=ATOL)
    ensemble = ensemble_from_onnx(path)
    np.testing.assert_allclose(ensemble.predict_proba(X), expected.ravel(), rtol=RTOL, atol=ATOL)
    again = model_to_onnx(model)
    np.testing.assert_allclose(ort_run(again, X, "logits"), expected, rtol=RTOL, atol=ATOL)
