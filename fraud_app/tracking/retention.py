"""What the MLflow registry holds on to, for `fraud-app prune`; and deleting the MLflow runs
of removed training runs.

Owns reading the registry (every registered model of the store, not only
registry.model_name) and `delete_run`; does not own deciding what goes
(fraud_app.retention.plan) nor the files (pipelines.prune). A store that cannot answer is
a TrackingError: prune then removes nothing (it cannot tell what the registry needs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from fraud_app.errors import TrackingError
from fraud_app.tracking.client import check_reachable, require_store, tracking_uri
from fraud_app.tracking.ownership import PROJECT_TAG, project_identity
from fraud_app.tracking.registry import versions_filter
from fraud_app.uris import local_path, redacted

logger = logging.getLogger(__name__)
RUN_TAG, KIND_TAG, PARENT_TAG = "fraud_app.run", "fraud_app.kind", "mlflow.parentRunId"


@dataclass
class RegistryHolds:
    """runs: training run name -> why it stays (a version of it holds an alias); sources:
    a local directory a registered version's source names -> which version; cache_keys:
    model-cache entry names of the versions holding an alias -> why; registered_run_ids:
    the MLflow run of every registered version (never deleted)."""

    runs: dict[str, str] = field(default_factory=dict)
    sources: dict[Path, str] = field(default_factory=dict)
    cache_keys: dict[str, str] = field(default_factory=dict)
    registered_run_ids: set[str] = field(default_factory=set)
    store: str | None = None  # the store read (None: no store)


def store_exists(config) -> bool:
    """Whether there is a store to read: tracking on, or an embedded store file left from
    when it was (a version registered then still names its run's files)."""
    try:
        require_store(tracking_uri(config))
    except TrackingError:  # an embedded store whose file does not exist
        return False
    return config.tracking.enabled or tracking_uri(config).startswith("sqlite:")


def registry_holds(config) -> RegistryHolds:
    """Every registered version's hold on the files: see RegistryHolds."""
    if not store_exists(config):
        return RegistryHolds()
    from fraud_app.tracking.client import client, store_error

    uri = tracking_uri(config)
    try:
        check_reachable(uri, config.tracking.connect_timeout_s)
    except TrackingError as exc:  # its remedy "set tracking.enabled: false" is not prune's
        raise TrackingError(
            f"{str(exc).split('. Start it', 1)[0]}. prune reads the registry first, to keep "
            "what its versions hold: nothing was removed. Start the server or fix "
            "tracking.uri / MLFLOW_TRACKING_URI, then run it again"
        ) from None
    holds = RegistryHolds(store=redacted(uri))
    c, me = client(uri), project_identity(config)
    try:
        for model in _all(c.search_registered_models, None):
            aliases: dict[str, list[str]] = {}
            # the registered model's own alias map: a version searched for carries none
            for alias, version in (getattr(model, "aliases", None) or {}).items():
                aliases.setdefault(str(version), []).append(alias)
            for mv in _all(c.search_model_versions, versions_filter(model.name)):
                _hold(c, holds, mv, aliases.get(str(mv.version), []), uri, me)
    except Exception as exc:  # MlflowException, sqlalchemy, requests errors
        raise store_error(uri, "reading the registry (nothing was removed)", exc) from exc
    return holds


def check_store_holds(config, reported: dict[str, str]) -> None:
    """TrackingError unless the store prune reads knows at least one of the MLflow runs the
    training reports name (`reported`: training run -> its report's mlflow_run_id). A store
    that knows none of them is not the one `train` wrote to (tracking.uri or
    MLFLOW_TRACKING_URI pointing elsewhere, a sqlite file not there, tracking.enabled false
    with a server URI): read as empty, no alias would hold any run, and the champion's run
    would be removed. Stops at the first run found (one lookup in the usual case)."""
    if not reported:
        return
    uri = tracking_uri(config)
    if store_exists(config):
        from mlflow.exceptions import MlflowException

        from fraud_app.tracking.client import client, store_error

        c = client(uri)
        for run_id in sorted(set(reported.values())):
            try:
                c.get_run(run_id)
                return
            except MlflowException:  # not in this store
                continue
            except Exception as exc:  # sqlalchemy, requests errors
                raise store_error(uri, "reading the runs (nothing was removed)", exc) from exc
        where = "holds none of them"
    elif not config.tracking.enabled and not uri.startswith("sqlite:"):
        where = "is not read with tracking.enabled false"
    else:
        where = "does not exist"
    run, run_id = sorted(reported.items())[0]
    raise TrackingError(
        f"the tracking store {redacted(uri)} {where}, but {len(reported)} training "
        f"report(s) name MLflow runs (training run {run}: MLflow run {run_id}): it is not the "
        "store `train` wrote to, so the registry's aliases cannot be read and nothing was "
        "removed. Point tracking.uri / MLFLOW_TRACKING_URI (and tracking.enabled) at that "
        "store, then run prune again"
    )


def _all(search, *args) -> list:
    """Every result of an MLflow search, all pages (a deployment of years registers more
    versions than one page holds)."""
    found, token = [], None
    while True:
        page = search(*args, max_results=1000, page_token=token)
        found += list(page)
        token = getattr(page, "token", None)
        if not token:
            return found


def _hold(c, holds: RegistryHolds, mv, aliases: list[str], uri: str, me: str) -> None:
    what = f"{mv.name} v{mv.version}"
    if mv.run_id:
        holds.registered_run_ids.add(mv.run_id)
    source = str(mv.source or "")
    path = local_path(source) if not source.startswith(("models:/", "runs:/")) else None
    if path is not None:
        holds.sources[path.resolve()] = f"{what}'s source"
    if not aliases:
        return
    why = f"{what} holds alias {', '.join(sorted(aliases))}"
    run = _run_name(c, mv.run_id, me)
    if run:
        holds.runs.setdefault(run, why)
    holds.cache_keys.setdefault(_cache_key(mv, uri), why)


def _run_name(c, run_id: str | None, me: str) -> str | None:
    """The training run name of MLflow run `run_id`; None when it has none, is gone, or is
    another project's run of a store several projects share (tagged fraud_app.project: its
    `r1` is not this project's `r1`)."""
    if not run_id:
        return None
    from mlflow.exceptions import MlflowException

    try:
        tags = c.get_run(run_id).data.tags
    except MlflowException:  # the run was deleted for good: its version keeps its model
        return None
    return tags.get(RUN_TAG) if tags.get(PROJECT_TAG, me) == me else None


def _cache_key(mv, uri: str) -> str:
    """The model-cache entry a registered version is downloaded into (one rule:
    fraud_app.tracking.models.version_cache_key)."""
    from fraud_app.tracking.models import version_cache_key

    return version_cache_key(mv, uri)


def training_run_ids(config, run: str, reported: str | None = None) -> list[str]:
    """The MLflow runs of training run `run` of THIS project in the experiment: the run
    tagged fraud_app.run=<run> (kind training) and its nested runs (members, baselines).
    reported: the MLflow run the training report names. On a store several projects share
    (one experiment, the same --run names) another project's run of that name is not this
    one's: a run tagged fraud_app.project with another identity never counts, and when
    the report names the run, an untagged one counts only if it is that run (prune in one
    project deleted the other's MLflow runs of the same name)."""
    from fraud_app.tracking.client import client

    c = client(tracking_uri(config))
    exp = c.get_experiment_by_name(config.tracking.experiment)
    if exp is None:
        return []
    name = run.replace("'", "\\'")
    parents = c.search_runs(
        [exp.experiment_id], f"tags.`{RUN_TAG}` = '{name}' and tags.`{KIND_TAG}` = 'training'"
    )
    found, me = [], project_identity(config)
    for parent in parents:
        project = parent.data.tags.get(PROJECT_TAG)
        mine = project == me if project else reported in (None, parent.info.run_id)
        if not mine:
            continue
        found.append(parent.info.run_id)
        children = c.search_runs(
            [exp.experiment_id], f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'"
        )
        found += [child.info.run_id for child in children]
    return found


def delete_runs(config, run_ids: list[str]) -> None:
    """MLflow's delete_run of each (marked deleted; `mlflow gc` removes them and their
    artifacts for good)."""
    from fraud_app.tracking.client import client

    c = client(tracking_uri(config))
    for run_id in run_ids:
        c.delete_run(run_id)
