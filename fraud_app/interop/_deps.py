"""Lazy imports of the optional ONNX packages, with an error that says how to install them.

Plain `import` statements inside functions (not importlib), so import-linter sees them and
can check that no module outside fraud_app.interop imports onnx or onnxruntime.
"""

from __future__ import annotations

from types import ModuleType

from fraud_app.errors import EnvironmentSetupError


def _missing(module: str, purpose: str, exc: ImportError) -> EnvironmentSetupError:
    err = EnvironmentSetupError(
        f"{purpose} needs the Python package {module!r}, which is not installed here. "
        "Install the optional extra: pip install 'fraud-app[onnx]'"
    )
    err.__cause__ = exc
    return err


def require_onnx() -> ModuleType:
    """The `onnx` package (protobuf model format, helper API, checker)."""
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as exc:
        raise _missing("onnx", "ONNX export/import", exc) from exc
    return onnx


def require_onnxruntime() -> ModuleType:
    """The `onnxruntime` package (scoring ONNX files)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise _missing("onnxruntime", "Scoring an ONNX file", exc) from exc
    return onnxruntime
