"""Which project a registered model belongs to, on a tracking store several projects share.

A company's tracking server (or one sqlite file) is shared: the debit-card and the
credit-card projects (two configs, two `paths.root`, other data) both point `tracking.uri`
at it and both keep the default `registry.model_name`. Without an owner, the second
project's gate compared its model with the first one's champion on its own window, moved
`champion` to its model, and the first project's daily `score` of `@champion` scored its
transactions with the other project's model, without a word.

Owns the project's identity (`tracking.project`, else `paths.root` as a URI: a local root's
resolved `file:` URI, a remote root as written), the tag `fraud_app.project` on a registered model (set at its first
registration by this release; a model registered before it is adopted by the first
project that registers under it) and the check that refuses another project's model.
The embedded store (`<paths.root>/mlflow.db`, no tracking.uri nor MLFLOW_TRACKING_URI)
belongs to its root whatever the tag says: a root moved with its store keeps working. Does
not own the gate (pipelines.training.gate) nor resolving a model (fraud_app.tracking.models).
"""

from __future__ import annotations

import logging

from fraud_app import settings
from fraud_app.errors import TrackingError
from fraud_app.uris import local_path, redacted, scheme

logger = logging.getLogger(__name__)
PROJECT_TAG = "fraud_app.project"
_warned: set[tuple[str, str, str]] = set()  # (store, model, owner): one WARNING a process


class ProjectMismatchError(TrackingError):
    """The registered model of this name belongs to another project of the shared store."""


def project_identity(config) -> str:
    """tracking.project, else paths.root as a URI: a local root resolved to its `file:`
    URI, a remote one (`hdfs://nn/fraud`, `s3a://bucket/fraud`) as written, without a
    trailing `/` (it was taken for a local path relative to the working directory, so a
    cron job and an Airflow task of one project, started in other folders, were two
    projects)."""
    if config.tracking.project:
        return config.tracking.project
    root = config.paths.root
    local = local_path(root)
    return root.rstrip("/") if local is None else local.resolve().as_uri()


def _root_identity(owner: str) -> bool:
    """Whether an owner tag is a root (a URI), not a tracking.project name."""
    return scheme(owner) != ""


def embedded_store(config) -> bool:
    """Whether the store is the project's own `<paths.root>/mlflow.db` (no tracking.uri nor
    MLFLOW_TRACKING_URI): no other project writes it, so its owner is never checked."""
    return not (config.tracking.uri or settings.mlflow_tracking_uri())


def other_owner(owner: str | None, config) -> str | None:
    """`owner` (a registered model's PROJECT_TAG) when it names another project than this
    one; None when the model has no owner, is this project's, or the store is this
    project's embedded one (never checked)."""
    if not owner or embedded_store(config) or owner == project_identity(config):
        return None
    return owner


def model_owner(client, name: str) -> tuple[bool, str | None]:
    """(whether `name` is registered, its owner tag or None)."""
    from mlflow.exceptions import MlflowException

    from fraud_app.tracking.registry_lookup import absent, store_failed

    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if absent(exc):
            return False, None
        raise store_failed(client, exc, f"looking up model {name!r}") from None
    return True, (model.tags or {}).get(PROJECT_TAG) or None


def check_owner(client, config, name: str, doing: str, *, reader: bool = False) -> None:
    """ProjectMismatchError when registered model `name` belongs to another project (its
    tag names another identity than this project's); `doing`: what was refused, e.g.
    "this run's gate would compare ...". A model without the tag, or none of that name,
    passes (`claim` tags it at registration).

    reader: a command that only reads the model (score, evaluate, the gate's champion is
    no reader). When neither side named its project (both identities are roots) another
    root may be the same project (a scoring machine with a writable root of its own,
    reading the training root's store): one WARNING, not an error. A project named by
    tracking.project (on either side) is refused."""
    if embedded_store(config):
        return
    owner = other_owner(model_owner(client, name)[1], config)
    if owner is None:
        return
    me = project_identity(config)
    said = (
        f"registered model {name!r} in the tracking store {redacted(client.tracking_uri)} "
        f"belongs to another project ({PROJECT_TAG} {owner!r}; this project is {me!r})"
    )
    if reader and not config.tracking.project and _root_identity(owner):
        key = (client.tracking_uri, name, owner)
        if key in _warned:  # score resolves its model before Spark and again in the job
            return
        _warned.add(key)
        logger.warning(
            "%s, and neither names itself with tracking.project: read as asked (another "
            "root of the same project?). If it is this project, set tracking.project: %r "
            "here; if not, %s", said, owner, doing,
        )  # fmt: skip
        return
    raise ProjectMismatchError(
        f"{said}: {doing}. Give this project a model name of its own (registry.model_name, "
        f"e.g. '{name}-<project>', and tracking.experiment for its runs); if this is that "
        f"same project (its root moved, another machine's root), set tracking.project: "
        f"{owner!r}"
    )


def warn_other_name(client, config, name: str, uri: str) -> None:
    """One WARNING (a process) when `uri` names registered model `name`, not this project's
    registry.model_name, and `name` belongs to another project of the shared store: read as
    asked (another name is a deliberate choice), but said. Every config `fraud-app init`
    wrote before session 50 sets scoring.model: models:/fraud-ensemble@champion; a project
    that then renamed its model (the advice of the shared-store error) kept that line, and
    its `score` read the other project's champion without a word (review50a)."""
    if embedded_store(config):
        return
    owner = other_owner(model_owner(client, name)[1], config)
    if owner is None:
        return
    key = (client.tracking_uri, name, owner)
    if key in _warned:  # score resolves its model before Spark and again in the job
        return
    _warned.add(key)
    own = config.registry.model_name
    logger.warning(
        "%s names registered model %r of another project (%s %r; this project is %r and "
        "registers its models as %r, registry.model_name): read as asked. If it is a "
        "scoring.model line kept from an older config (`fraud-app init` wrote "
        "models:/fraud-ensemble@champion), remove it: left out, scoring.model is "
        "models:/%s@champion, this project's champion",
        uri, name, PROJECT_TAG, owner, project_identity(config), own, own,
    )  # fmt: skip


def claim(client, config, name: str) -> None:
    """Tag registered model `name` with this project's identity when it has no owner yet
    (its first registration, or a model registered before this release: adopted)."""
    registered, owner = model_owner(client, name)
    if not registered or owner is not None:
        return
    me = project_identity(config)
    client.set_registered_model_tag(name, PROJECT_TAG, me)
    logger.info("registry: %s belongs to project %s (tag %s)", name, me, PROJECT_TAG)


def check_before_training(config) -> None:
    """`train` / `run` before Spark starts: ProjectMismatchError when registry.model_name
    belongs to another project of the shared store (it was found after training, or not
    at all: the gate moved `champion` to this project's model). Nothing is created: a
    sqlite store that does not exist yet has no model."""
    if not config.tracking.enabled:
        warn_registry_unused(config)
        return
    if not config.registry.enabled or embedded_store(config):
        return
    from fraud_app.tracking.client import check_reachable, client, store_error, tracking_uri
    from fraud_app.tracking.store_lock import sqlite_database

    uri = tracking_uri(config)
    db = sqlite_database(uri)
    if db is not None and not db.is_file():
        return
    check_reachable(uri, config.tracking.connect_timeout_s)
    try:
        check_owner(client(uri), config, config.registry.model_name, TRAIN_REFUSED)
    except TrackingError:
        raise
    except Exception as exc:  # sqlalchemy, requests errors
        raise store_error(uri, "reading the registered model's project", exc) from exc


def warn_registry_unused(config) -> bool:
    """One WARNING, before training, when the config asks for the registry (a `registry.*`
    setting given, registry.enabled left true) but tracking.enabled is false: the run then
    registered nothing and no gate ran, without a word (the training lines end with no
    registry line); whether it warned. A setting given at its default value asks for
    nothing: the config `fraud-app init` writes sets registry.model_name: fraud-ensemble and
    promotion_margin: 0.0, so each `train` of it with tracking.enabled: false (the remedy
    an unreachable tracking server's error names) warned (review50a)."""
    registry, default = config.registry, type(config.registry)()
    asked = sorted(key for key in registry.model_fields_set - {"enabled"}
                   if getattr(registry, key) != getattr(default, key))  # fmt: skip
    if config.tracking.enabled or not config.registry.enabled or not asked:
        return False
    logger.warning(
        "%s set, but tracking.enabled is false: this run registers no version of %r and no "
        "promotion gate runs (the registry is MLflow's), so `champion` stays where it is; "
        "set tracking.enabled: true to register and gate the model, or registry.enabled: "
        "false to say it is not wanted",
        ", ".join(f"registry.{k}" for k in asked), config.registry.model_name,
    )  # fmt: skip
    return True


TRAIN_REFUSED = (
    "this run's gate would compare its model with that project's champion on this "
    "project's data and could move `champion` to it (that project would then score its "
    "transactions with this project's model); nothing was trained"
)
