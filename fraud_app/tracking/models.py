"""C1: turn any model URI into a local ensemble directory (one that holds ensemble.json).

Accepted: a local ensemble directory; `models:/<name>@<alias>`; `models:/<name>/<version>`;
`models:/m-<id>`; `runs:/<run_id>/<path>`. Remote models are downloaded once into a
cache keyed by the logged model id (or the run URI), then reused.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path

from fraud_app.errors import ModelLoadError

logger = logging.getLogger(__name__)
ENSEMBLE_FILE = "ensemble.json"


def _cache_root(config) -> Path:
    if config is not None:
        return Path(config.paths.root).resolve() / "model-cache"
    return Path(tempfile.gettempdir()) / "fraud-app-model-cache"


def _registry_source(client, uri: str) -> tuple[str, str]:
    """(download URI, cache key) of a `models:/` URI; errors name what is unknown."""
    from mlflow.exceptions import MlflowException

    rest = uri[len("models:/") :].strip("/")
    if rest.startswith("m-") and "/" not in rest and "@" not in rest:
        return uri, rest
    if "@" in rest:
        name, alias = rest.split("@", 1)
        what = f"alias {alias!r} of model {name!r}"
        getter = lambda: client.get_model_version_by_alias(name, alias)  # noqa: E731
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        what = f"version {version!r} of model {name!r}"
        getter = lambda: client.get_model_version(name, version)  # noqa: E731
    else:
        raise ModelLoadError(
            f"model URI {uri!r} names no version or alias: use models:/<name>@<alias> "
            "or models:/<name>/<version>"
        )
    try:
        client.get_registered_model(name)
    except MlflowException:
        raise ModelLoadError(
            f"registered model {name!r} does not exist in {client.tracking_uri}; "
            "see `fraud-app models` for the registered models"
        ) from None
    try:
        mv = getter()
    except MlflowException:
        raise ModelLoadError(
            f"{what} does not exist; see `fraud-app models` for its versions and aliases"
        ) from None
    source = (
        mv.source if str(mv.source).startswith("models:/m-") else f"models:/{name}/{mv.version}"
    )
    key = source[len("models:/") :] if source.startswith("models:/m-") else f"{name}-v{mv.version}"
    return source, key


def _find_ensemble(root: Path) -> Path | None:
    for cand in (root, root / "artifacts" / "ensemble"):
        if (cand / ENSEMBLE_FILE).is_file():
            return cand
    return None


def resolve_model_dir(uri: str, *, config=None) -> Path:
    """A local directory holding ensemble.json for `uri` (see the module docstring)."""
    uri = str(uri)
    if not uri.startswith(("models:/", "runs:/")):
        path = Path(uri)
        if (path / ENSEMBLE_FILE).is_file():
            return path
        raise ModelLoadError(
            f"{uri} is neither an ensemble directory (no {ENSEMBLE_FILE}) nor a models:/ or "
            "runs:/ URI"
        )
    if config is not None:
        from fraud_app.tracking.client import connect

        connect(config, must_exist=True)
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    if uri.startswith("models:/"):
        source, key = _registry_source(client, uri)
    else:
        source, key = uri, "run-" + hashlib.sha256(uri.encode()).hexdigest()[:16]
    target = _cache_root(config) / key
    found = _find_ensemble(target)
    if found is not None:
        return found
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(staging))
        if _find_ensemble(staging) is None:
            raise ModelLoadError(f"{uri} holds no ensemble ({ENSEMBLE_FILE} not found)")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except MlflowException as exc:
        raise ModelLoadError(f"cannot download model {uri}: {exc.message}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("model %s -> %s", uri, target)
    return _find_ensemble(target)  # type: ignore[return-value]
