"""Log a saved ensemble directory as an MLflow pyfunc model (from code, nothing pickled)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)
CODE_FILE = Path(__file__).with_name("pyfunc_model.py")
ARTIFACT = "ensemble"


@dataclass(frozen=True)
class LoggedModel:
    model_uri: str  # models:/m-<id>
    model_id: str
    registered_name: str | None
    version: str | None


def signature(feature_names: list[str]):
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("double", n) for n in feature_names]),
        outputs=Schema([ColSpec("double", "fraud_score")]),
    )


def input_frame(X: np.ndarray, feature_names: list[str]):
    """The pyfunc input format: one float64 column per feature name."""
    import pandas as pd

    X = np.asarray(X, dtype=np.float64).reshape(len(X), len(feature_names))
    return pd.DataFrame(X, columns=list(feature_names))


def _requirements() -> list[str]:
    out = []
    for dist in ("mlflow", "numpy", "pandas"):
        try:
            out.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(dist)
    return out


def log_ensemble(
    model_dir: str | Path,
    feature_names: list[str],
    example: np.ndarray,
    *,
    registered_name: str | None,
) -> LoggedModel:
    """Log `model_dir` into the active run; register it under `registered_name` when given.

    The model's code is this package's pyfunc_model.py; it imports fraud_app at load
    time, so serve it with `--env-manager local` from an environment with fraud-app.
    """
    import mlflow

    with tempfile.TemporaryDirectory(prefix="ensemble-artifact-") as tmp:
        staged = Path(tmp) / ARTIFACT  # artifacts keep their directory's name
        shutil.copytree(model_dir, staged)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(CODE_FILE),
            artifacts={ARTIFACT: str(staged)},
            signature=signature(feature_names),
            input_example=input_frame(example[:5], feature_names),
            registered_model_name=registered_name,
            pip_requirements=_requirements(),
        )
    version = info.registered_model_version
    logger.info("logged model %s (registered %s v%s)", info.model_uri, registered_name, version)
    return LoggedModel(
        info.model_uri, info.model_id, registered_name, None if version is None else str(version)
    )
