"""Interoperability with other frameworks' model formats (ONNX).

The ONLY package that imports `onnx` and `onnxruntime` (an import-linter contract in
pyproject.toml says so). Both are optional (`pip install 'fraud-app[onnx]'`) and are
imported lazily inside functions, so the rest of the application (and dlcore, which is
NumPy + stdlib only) imports and runs without them.

- `onnx_export`: dlcore Model / FraudEnsemble -> ONNX graph (+ checked file writing)
- `onnx_import`: ONNX graph -> dlcore Model / FraudEnsemble
"""
