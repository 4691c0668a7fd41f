"""C1: turn any model URI into a local ensemble directory (one that holds ensemble.json).

Accepted: a local ensemble directory; `models:/<name>@<alias>`; `models:/<name>/<version>`;
`models:/<name>/latest` (the highest version, as MLflow reads it); `models:/m-<id>`;
`runs:/<run_id>/<path>` (a run's logged model, e.g. `runs:/<id>/model`). Remote models are
downloaded once into a cache keyed by the logged model id (or the run URI), then reused; a
registered version whose source is not a logged model (registered by hand from a folder or
a run's artifacts) by its name, number and a digest of the registry store and the version's
own record (`<name>-v<version>-<digest>`): its name and number alone said nothing of the
store, so after `tracking.uri` changed, another store's version of that name and number was
served from the cache.
`resolve_model` also says which registered version an alias or `latest` stood for, so
scores and reports name the version, not the alias.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fraud_app import file_trust
from fraud_app.errors import ModelLoadError, UntrustedModelError, exception_chain
from fraud_app.models.ensemble import MODEL, FraudEnsemble, local_ensemble_dir, local_model_path
from fraud_app.tracking.registry_lookup import absent, store_failed, version_number, versions_filter
from fraud_app.tracking.relocation import beside_store, recorded_path
from fraud_app.tracking.store_lock import sqlite_database
from fraud_app.uris import model_uri, redacted

logger = logging.getLogger(__name__)
ENSEMBLE_FILE = "ensemble.json"


@dataclass(frozen=True)
class ResolvedModel:
    """A local ensemble directory and, for a registry URI, the registered name and the
    version the URI stood for; for a logged model (`models:/m-<id>`, `runs:/<id>/model`)
    the version registered from it (None otherwise)."""

    directory: Path
    name: str | None = None
    version: str | None = None


def _cache_root(config) -> Path:
    if config is not None:
        return config.paths.driver_dir().resolve() / "model-cache"
    return Path(tempfile.gettempdir()) / "fraud-app-model-cache"


def _latest(client, name: str):
    """The highest version of a registered model (MLflow's `models:/<name>/latest`)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    versions = client.search_model_versions(versions_filter(name))
    if not versions:
        raise MlflowException(
            f"registered model {name!r} has no versions", error_code=RESOURCE_DOES_NOT_EXIST
        )
    return max(versions, key=lambda mv: int(mv.version))


def _registry_source(client, uri: str) -> tuple[str, str, str | None, str | None]:
    """(download URI, cache key, registered name, version) of a `models:/` URI; errors
    name what is unknown."""
    from mlflow.exceptions import MlflowException

    rest = uri[len("models:/") :].strip("/")
    if rest.startswith("m-") and "/" not in rest and "@" not in rest:
        return uri, cache_entry_name(rest), None, None
    name, what, getter = _lookup(client, uri, rest)
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if not absent(exc):
            raise store_failed(client, exc, f"resolving {uri}") from None
        raise ModelLoadError(
            f"registered model {name!r} does not exist in {redacted(client.tracking_uri)}; "
            "see `fraud-app models` for the registered models"
        ) from None
    try:
        mv = getter()
    except MlflowException as exc:
        if not absent(exc):
            raise store_failed(client, exc, f"resolving {uri}") from None
        raise ModelLoadError(
            f"{what} does not exist; see `fraud-app models` for its versions and aliases"
        ) from None
    source = (
        mv.source if str(mv.source).startswith("models:/m-") else f"models:/{name}/{mv.version}"
    )
    return source, version_cache_key(mv), name, str(mv.version)


_CACHE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


def cache_entry_name(key: str) -> str:
    """`key` as ONE directory name in the model cache: kept when it is a plain name, else
    a digest of it. A key comes from the registry (a logged model's id in a version's
    source, a registered name): a hostile or damaged store answering a source such as
    `models:/m-x/../../elsewhere` made the cache entry a path outside the cache, which
    the download empties first (probe51e's Left)."""
    if _CACHE_NAME.fullmatch(key) and ".." not in key:
        return key
    return "k-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def version_cache_key(mv, registry_uri: str | None = None) -> str:
    """The model-cache entry a registered version is downloaded into: a logged model's id
    (`models:/m-<id>`: unique across stores) or name, version and the version's digest."""
    source = str(mv.source)
    if source.startswith("models:/m-"):
        return cache_entry_name(source[len("models:/") :])
    return cache_entry_name(f"{mv.name}-v{mv.version}-{_version_digest(mv, registry_uri)}")


def _version_digest(mv, registry_uri: str | None = None) -> str:
    """16 hex digits naming a registered version in its registry store: the store's URI and
    the version's creation time, source and run (a version deleted and registered again
    under the same number in one store is another model too)."""
    import mlflow

    store = registry_uri or mlflow.get_registry_uri()
    record = [store, mv.name, str(mv.version), mv.creation_timestamp, str(mv.source), mv.run_id]
    return hashlib.sha256(json.dumps(record, default=str).encode()).hexdigest()[:16]


def _lookup(client, uri: str, rest: str):
    """(registered name, what the URI asks for in words, a getter of its ModelVersion).

    Read as MLflow reads a models:/ URI: `<name>/<version>` first (a name holds no `/`),
    then `<name>@<alias>` at the LAST `@` (an alias holds none, a name may: `fraud@eu`).
    Cut at the first `@`, a name holding one was another name (`fraud`) in every URI, the
    gate's `models:/fraud@eu/1` too: its champion "did not load", so no new version was
    ever compared with it or promoted, and `score` of `@champion` failed (session 50)."""
    if "/" not in rest and "@" in rest:
        name, alias = rest.rsplit("@", 1)
        what = f"alias {alias!r} of model {name!r}"
        getter = lambda: client.get_model_version_by_alias(name, alias)  # noqa: E731
    elif "/" in rest and rest.rsplit("/", 1)[1].lower() == "latest":
        name = rest.rsplit("/", 1)[0]
        what = f"version 'latest' of model {name!r} (it has no versions)"
        getter = lambda: _latest(client, name)  # noqa: E731
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        what = f"version {version!r} of model {name!r}"
        number = version_number(version)
        if number is None and version.isascii() and version.isdigit():  # beyond any version
            raise ModelLoadError(f"{what} does not exist; see `fraud-app models` for its versions")
        if number is None:
            raise ModelLoadError(
                f"model URI {uri!r}: {version!r} is not a version; use a version number "
                f"(models:/{name}/3), models:/{name}/latest or an alias (models:/{name}@champion)"
            )
        getter = lambda: client.get_model_version(name, number)  # noqa: E731
    else:
        raise ModelLoadError(
            f"model URI {uri!r} names no version or alias: use models:/<name>@<alias> "
            "or models:/<name>/<version>"
        )
    return name, what, getter


def _registered_as(client, uri: str, config=None) -> tuple[str, str] | None:
    """(name, version) of the registered version whose source is the logged model that
    `uri` (`models:/m-<id>`, `runs:/<run id>/<name>`) names; None when none is (or it
    cannot be told: several names and none is registry.model_name, or the store does not
    say). The same model scored as `models:/fraud-ensemble/1` and as its
    `models:/m-<id>` (the `model_uri` of the run's registry.json) was labelled
    `fraud-ensemble` `1` and `models:/m-<id>` `unregistered`, a version the registry
    holds (review50a)."""
    from mlflow.exceptions import MlflowException

    try:
        if uri.startswith("models:/"):
            model_id = uri[len("models:/") :].strip("/")
            run_id, ids = client.get_logged_model(model_id).source_run_id, {model_id}
        else:
            match = _RUN_URI.fullmatch(uri.strip())
            if match is None:
                return None
            run_id, wanted = match["run"], match["path"].strip("/").split("/")[0]
            experiment = client.get_run(run_id).info.experiment_id
            logged = client.search_logged_models(
                experiment_ids=[experiment], filter_string=f"source_run_id = '{run_id}'"
            )
            ids = {m.model_id for m in logged if m.name == wanted}
        if not run_id or not ids:
            return None
        found = {(mv.name, str(mv.version))
                 for mv in client.search_model_versions(f"run_id = '{run_id}'")
                 if mv.model_id in ids or str(mv.source) in {f"models:/{i}" for i in ids}}  # fmt: skip
    except Exception as exc:  # a courtesy: the model loads, named by its URI
        if not (isinstance(exc, MlflowException) or _unanswered(exc)):
            raise
        logger.info("%s: its registered version could not be looked up: %s", uri, exc)
        return None
    own = {f for f in found if config is not None and f[0] == config.registry.model_name}
    chosen = own if own else found
    return next(iter(chosen)) if len(chosen) == 1 else None


def _find_ensemble(root: Path) -> Path | None:
    """The ensemble inside a download: the directory itself, a logged model's
    artifacts/ensemble, or those one level down (`runs:/<id>/model` downloads into model/)."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for base in (root, *subdirs):
        for cand in (base, base / "artifacts" / "ensemble"):
            if (cand / ENSEMBLE_FILE).is_file():
                return cand
    return None


def resolve_model_dir(uri: str, *, config=None) -> Path:
    """A local directory holding ensemble.json for `uri` (see the module docstring)."""
    return resolve_model(uri, config=config).directory


def resolve_model(uri: str, *, config=None) -> ResolvedModel:
    """`resolve_model_dir` plus the registered name and version a `models:/` URI stood for."""
    uri = str(uri)
    if uri.strip() != uri and not Path(uri).exists():  # e.g. a DAG's quoted ' models:/...'
        raise ModelLoadError(
            f"model {uri!r} starts or ends with whitespace (a leading one made it a local "
            f"path that does not exist); expected an ensemble directory or a models:/ or "
            f"runs:/ URI, e.g. {uri.strip()!r}"
        )
    uri = model_uri(uri)  # runs:/<id>/model/ is runs:/<id>/model; runs:/<id>/ refused
    if not uri.startswith(("models:/", "runs:/")):
        path = local_model_path(uri, "a models:/ or runs:/ URI")
        found = local_ensemble_dir(path)  # also a fraud_app.ml model's data/ensemble
        if found is not None:
            return ResolvedModel(found)
        if not path.exists():  # a typo read as "neither ... nor", as if the directory were wrong
            raise ModelLoadError(
                f"{uri} does not exist; expected an ensemble directory (holding "
                f"{ENSEMBLE_FILE}) or a models:/ or runs:/ URI"
            )
        raise ModelLoadError(
            f"{uri} is neither an ensemble directory (no {ENSEMBLE_FILE}) nor a models:/ or "
            "runs:/ URI"
        )
    if config is not None:
        from fraud_app.tracking.client import connect

        connect(config, must_exist=True)
    import mlflow

    client = mlflow.MlflowClient()
    name = version = None
    if uri.startswith("models:/"):
        source, key, name, version = _registry_source(client, uri)
        if config is not None and name == config.registry.model_name:
            from fraud_app.tracking.ownership import check_owner

            check_owner(client, config, name, (
                f"{uri} would be that project's model, trained on its data, not this "
                "project's (its scores would be silently wrong here)"
            ), reader=True)  # fmt: skip
        elif config is not None and name is not None:
            from fraud_app.tracking.ownership import warn_other_name

            warn_other_name(client, config, name, uri)
    else:
        source, key = uri, "run-" + hashlib.sha256(uri.encode()).hexdigest()[:16]
    target = _cache_root(config) / key
    found = _find_ensemble(target)
    if found is not None and (damage := _damaged(found)) is not None:
        logger.warning(
            "model cache entry %s of %s is damaged (%s): downloading it again", target, uri,
            damage,
        )  # fmt: skip
        found = None
    if found is None:
        _download(uri, source, target)
        logger.info("model %s -> %s", uri, target)
        found = _find_ensemble(target)
    else:
        _touch(target)
    if name is None:  # a logged model by its id or run (after the download, which fails
        # first on a store that does not answer): the version registered from it
        name, version = _registered_as(client, uri, config) or (None, None)
    return ResolvedModel(found, name, version)  # type: ignore[arg-type]


# a registered model's local artifacts: a colleague's run may own them (the registry says
# whose model it is: fraud_app.tracking.ownership), but not every user may have written them
REGISTRY_SOURCE = dataclasses.replace(
    MODEL, owners=False, fresh="log and register the model again from a private folder"
)


def _recorded_location(uri: str, source: str) -> Path | None:
    """The local folder the store records for the files of `source` (a file store's
    artifact root, a folder registered by hand), whether or not it exists; None when it
    records no local folder or cannot say. A server that did not answer in time is a
    ModelLoadError naming `uri`."""
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
    from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

    repo = ModelsArtifactRepository if source.startswith("models:/") else RunsArtifactRepository
    try:
        return recorded_path(repo.get_underlying_uri(source))
    except Exception as exc:
        if _unanswered(exc):  # the download would wait as long again for the same answer
            raise ModelLoadError(
                f"cannot download model {uri}: {redacted(str(getattr(exc, 'message', exc)))}"
            ) from None
        return None


def _beside_store(missing: Path) -> Path | None:
    """Where the files of an absent recorded path lie beside the current (sqlite) store
    when the store was moved and cannot record it (read-only); None otherwise."""
    import mlflow

    db = sqlite_database(mlflow.get_tracking_uri())
    return None if db is None else beside_store(db, missing)


def _touch(entry: Path) -> None:
    """An entry's time is its last use: `fraud-app prune`'s retention.model_cache ages
    entries by it (an entry used daily is not the oldest because it was downloaded first).
    A read-only cache is still read."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def _damaged(directory: Path) -> str | None:
    """Why the cached ensemble in `directory` does not load (a truncated or edited file, a
    member lost by a partial copy or a cleaner), or None when it loads. A cached copy is
    only a copy: the registry's artifacts are downloaded again rather than the job refused
    (it was refused naming the file, until the user deleted the entry by hand)."""
    from dlcore.errors import SerializationError

    try:
        FraudEnsemble.load(directory)
    except UntrustedModelError:
        raise  # another user's entry: refused, not downloaded again over it
    except (ModelLoadError, SerializationError, OSError) as exc:
        return str(exc)
    return None


_RUN_URI = re.compile(r"runs:/(?P<run>[0-9a-fA-F]+)/(?P<path>.+)")


def _unanswered(exc: BaseException) -> bool:
    """The request behind `exc` ran out of time or lost its connection (what MLflow re-raises
    keeps the cause in its chain): asking the same server more would wait as long again."""
    import requests

    from fraud_app.tracking.http_deadline import deadline_exceeded

    return deadline_exceeded(exc) is not None or any(
        isinstance(one, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                         TimeoutError, ConnectionError))
        for one in exception_chain(exc)
    )  # fmt: skip


def _run_contents(uri: str) -> str:
    """For a runs:/ URI MLflow could not download: what the run holds, for the error's
    end ('' when the run cannot be read: MLflow's own words then stand alone). MLflow said
    only "Failed to download artifacts from path 'model', please ensure that the path is
    correct", also for a run that logged no model at all (a `fraud-app evaluate` or
    `score` run, a parent run) or a model under another name."""
    import mlflow
    from mlflow.exceptions import MlflowException

    match = _RUN_URI.fullmatch(uri.strip())
    if match is None:
        return ""
    run_id = match["run"]
    client = mlflow.MlflowClient()
    try:
        run = client.get_run(run_id)
        artifacts = [a.path for a in client.list_artifacts(run_id)]
        models = client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
    except MlflowException:
        return ""
    names = sorted({m.name for m in models})
    wanted = match["path"].strip("/")
    stored = sorted({str(m.artifact_location) for m in models if m.name == wanted})
    if stored or wanted in artifacts:
        # MLflow swallows the reason a location failed (no credentials, no client library
        # for its scheme, a network error) and says the path is wrong
        where = (
            f"the model {wanted!r} stored at {redacted(', '.join(stored))}"
            if stored
            else (f"the artifact {wanted!r}")
        )
        return (
            f" (run {run_id} does log {where}, but its files could not be read from here: "
            "MLflow leaves out why (--log-level DEBUG shows its reason); check that this host "
            "can read that location: its credentials, and the client library its scheme needs "
            "(boto3 for s3://, google-cloud-storage for gs://, azure-storage-blob for wasbs://))"
        )
    return (
        f" (run {run_id} holds no {match['path']!r}: its logged models: "
        f"{', '.join(names) or 'none'}; its artifacts: {', '.join(artifacts[:20]) or 'none'}. "
        "A `fraud-app train` run logs its ensemble as `model`: runs:/<that run's id>/model, "
        "or a registered version: models:/<name>/<version>)"
    )


def _download(uri: str, source: str, target: Path) -> None:
    """Download `source` into `target` through a staging directory (a killed download
    leaves no half model in the cache)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    recorded = _recorded_location(uri, source)
    if recorded is not None and recorded.is_dir():
        # the copy in the cache is ours whoever wrote the source: check the source first
        file_trust.check_private(recorded, REGISTRY_SOURCE)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(staging))
        # a recorded folder that does not exist: MLflow downloaded nothing, without an error
        if _find_ensemble(staging) is None and recorded is not None and not recorded.exists():
            if (found := _beside_store(recorded)) is None:
                raise ModelLoadError(
                    f"{uri}: the tracking store records its files under {recorded}, which does "
                    "not exist here: deleted, or the store was moved, copied or read without "
                    "its artifacts folder. Keep that folder beside the store's database (a "
                    "root moved or copied whole is followed), or score an ensemble directory "
                    "(--model <paths.root>/models/<run>)"
                )
            logger.warning(
                "%s: the tracking store records its files under %s (moved); read from %s",
                uri, recorded, found,
            )  # fmt: skip
            shutil.copytree(found, staging, dirs_exist_ok=True)
        if _find_ensemble(staging) is None:
            raise ModelLoadError(f"{uri} holds no ensemble ({ENSEMBLE_FILE} not found)")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except MlflowException as exc:
        # a server that did not answer in time (or at all) is not asked three more questions
        contents = "" if _unanswered(exc) else _run_contents(uri)
        raise ModelLoadError(
            f"cannot download model {uri}: {redacted(exc.message)}{contents}"
        ) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
