"""Load the model to score with, by registry URI or ensemble directory, and check that its
features are the ones the current specs compute.

Registry URIs (`models:/name@alias`, `models:/name/3`, `runs:/...`) resolve through
fraud_app.tracking.models.resolve_model_dir (contract C1), imported lazily so that this
package never imports mlflow; a local directory holding ensemble.json always works.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud_app.errors import ModelLoadError, ScoringInputError
from fraud_app.models.ensemble import FraudEnsemble, local_ensemble_dir, local_model_path
from fraud_app.uris import model_uri

logger = logging.getLogger(__name__)

_URI = re.compile(r"^(models|runs):/")
UNREGISTERED = "unregistered"  # the model_version of a logged model named outside the registry


@dataclass(frozen=True)
class ScoringModel:
    ensemble: FraudEnsemble
    uri: str
    directory: Path
    name: str
    version: str


def check_source(uri: str, config) -> None:
    """ModelLoadError / TrackingError when `uri` names no model: a directory without
    ensemble.json, a registry URI with tracking off, a store that does not exist, an unknown
    name, version, alias or stage. A registry model is downloaded into the model cache,
    where the job that loads it next finds it. The CLI runs this before the JVM starts."""
    _resolve(uri, config)


def refuse_registry_without_tracking(uri: str, config) -> None:
    """ModelLoadError for a registry or run URI under tracking.enabled: false: no MLflow and
    no registry (it looked the name up in an empty embedded store, "registered model ...
    does not exist; see `fraud-app models`"; export-onnx read the registry regardless). The
    remedy names each command's way of giving a directory: `evaluate` takes MODEL, not
    --model (it told evaluate's user to pass --model, a flag evaluate does not have)."""
    if config is not None and not config.tracking.enabled and _URI.match(uri):
        raise ModelLoadError(
            f"model {uri!r} is a registry URI, but tracking.enabled is false (no registry, "
            "nothing registered): give an ensemble directory (paths.models/<run>) instead: "
            "`fraud-app score --model DIR` (or scoring.model: DIR), `fraud-app evaluate DIR "
            "...`, `fraud-app export-onnx DIR OUT.onnx`; or set tracking.enabled: true"
        )


def _resolve(uri: str, config) -> tuple[Path, str | None, str | None]:
    """(ensemble directory, registered name, version): the version an alias or `latest`
    stood for, so scores name `3`, not `champion`; (None, None) outside the registry."""
    if not _URI.match(uri):
        path = local_model_path(uri, "a registry URI such as models:/fraud-ensemble@champion")
        found = local_ensemble_dir(path)
        if found is None:
            what = "does not exist" if not path.exists() else "holds no ensemble.json"
            raise ModelLoadError(
                f"model {uri!r} {what}: pass an ensemble directory (paths.models/<run>) or a "
                "registry URI such as models:/fraud-ensemble@champion"
            )
        return found, None, None
    refuse_registry_without_tracking(uri, config)
    try:
        from fraud_app.tracking.models import resolve_model
    except ImportError as exc:
        raise ModelLoadError(
            f"model {uri!r}: registry URIs need fraud_app.tracking, which this build lacks; "
            "pass an ensemble directory (paths.models/<run>) instead"
        ) from exc
    found = resolve_model(uri, config=config)
    return Path(found.directory), found.name, found.version


def _name_version(uri: str, directory: Path) -> tuple[str, str]:
    """Outside the registry: a registry URI's own words, else the directory.

    A logged model named by its run (`runs:/<id>/model`) or its id (`models:/m-<id>`) is
    named by that URI, version `unregistered`: the download's directory named every run's
    model `ensemble` (version `local`), so the scores and evaluations of two runs' models
    were labelled alike, and `models:/m-<id>` read as version `latest` (session 50). Every
    other `models:/` URI resolves to its registered name and version (resolve_model)."""
    if _URI.match(uri):
        return uri, UNREGISTERED
    return directory.resolve().name, "local"


def load_scoring_model(uri: str, config=None) -> ScoringModel:
    if uri.strip() == uri:  # else resolve_model names the whitespace
        uri = model_uri(uri)  # `runs:/<id>/model/` is labelled as `runs:/<id>/model`
    directory, name, version = _resolve(uri, config)
    ensemble = FraudEnsemble.load(directory)
    if not (name and version):
        name, version = _name_version(uri, directory)
    logger.info("scoring with %s (name %s, version %s) from %s", uri, name, version, directory)
    return ScoringModel(ensemble, uri, directory, name, version)


def check_feature_names(
    model_names: list[str],
    spec_names: list[str],
    *,
    skipped: dict[str, str] | None = None,
    extra_ok: bool = False,
    table: str | None = None,
) -> None:
    """Raise when the model's features are not exactly the ones the specs compute.

    The order may differ (scoring builds the vector in the model's order); the set may not.
    `extra_ok`: only the model's features must be among `spec_names`: the vector takes
    the model's features by name, so a feature the model was not trained on is not read
    (the feature step skips specs whose inputs the data lacks, so a model trained on such
    data has fewer features than the specs define; a table built from more specs holds
    more). `table`: `spec_names` are the features of that feature table (evaluate), not
    of the specs.
    """
    missing = [n for n in model_names if n not in set(spec_names)]
    extra = [n for n in spec_names if n not in set(model_names)]
    if not missing and (extra_ok or not extra):
        return
    why = ""
    if skipped:
        gone = {n: skipped[n] for n in missing if n in skipped}
        if gone:
            why = f" (skipped by the feature step on this data: {gone})"
    if table is not None:
        raise ScoringInputError(
            f"the feature table {table} lacks {len(missing)} of the model's features: "
            f"{missing[:10]}{' ...' if len(missing) > 10 else ''}. Evaluate on a feature table "
            "built with the specs the model was trained on (features.spec_dir / spec_files), "
            "or retrain the model on this one"
        )
    raise ScoringInputError(
        f"the model's features differ from the current feature specs: missing from the specs "
        f"{missing}{why}, extra in the specs {extra}. Score with the specs the model was trained "
        "on (features.spec_dir / spec_files), or retrain the model on the current specs"
    )


def check_definitions(
    model: ScoringModel,
    current: Callable[[dict[str, Any]], dict[str, Any]],
    problem: Callable[[int], str],
    fix: str,
) -> None:
    """ScoringInputError when features of the model are computed with another definition
    than it was trained on: `current(stored)` gives today's definitions of the stored ones
    (the specs for `score`, the feature table's record for `evaluate`); `problem(n)` opens
    the message, `fix` ends it. Models trained before definitions were stored: not checked."""
    changed = changed_definitions(model.ensemble.metadata, current)
    if changed is not None:
        count, shown = changed
        raise ScoringInputError(f"{problem(count)}: {shown}. {fix}")


def changed_definitions(
    metadata: dict[str, Any], current: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[int, str] | None:
    """(how many, the first five as `name (field: old -> new, ...); ...`) of the features an
    ensemble's `metadata` stores a definition of that `current(stored)` defines otherwise
    today; None when none changed, or the model stores none (trained before they were).
    `score` and `evaluate` refuse such a model (check_definitions); the promotion gate does
    not compare it (pipelines/training/gate_features.py)."""
    from fraud_app.features.spec import diff_definitions

    stored = (metadata.get("features") or {}).get("definitions")
    changed = diff_definitions(stored, current(stored)) if stored else {}
    if not changed:
        return None
    return len(changed), "; ".join(f"{n} ({', '.join(d)})" for n, d in list(changed.items())[:5])


def check_specs(model: ScoringModel, feature_set) -> None:
    """The specs compute the model's features (more is fine), with the same definitions."""
    from fraud_app.features.spec import definitions

    spec_names = [f.name for f in feature_set.features]
    check_feature_names(model.ensemble.feature_names, spec_names, extra_ok=True)
    check_definitions(
        model,
        lambda stored: definitions(feature_set, stored),
        lambda n: (
            f"the definition of {n} of the model's features changed in the feature specs "
            "since it was trained"
        ),
        "Score with the specs the model was trained on (features.spec_dir / spec_files), or "
        "retrain the model on the current specs",
    )
