"""Reading the model registry: a version number as the registry writes it
(`version_number`), the version an alias names (`alias_version`), a registered model and
its versions listed with their aliases, gate tags and run metrics (`list_versions`), and
the errors of a lookup: a name, version or alias that does not exist (`absent`,
`no_such_model`) told apart from a store that could not answer (`store_failed`).

Owns no decision and moves no alias: the promotion gate and the manual override are
fraud_app.tracking.registry's (which re-exports these names), the champion history
fraud_app.tracking.champion_history's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fraud_app.errors import ModelLoadError, TrackingError
from fraud_app.tracking.champion_history import periods, read_history
from fraud_app.uris import redacted

# what MLflow answers for a name, version or alias that does not exist (an unknown alias
# is INVALID_PARAMETER_VALUE); anything else is a store that could not answer
_ABSENT = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})


MAX_VERSION = 2**63 - 1  # a registry's version column (sqlite INTEGER, SQL BIGINT)


def version_number(text: object) -> str | None:
    """A version as the registry writes it ('2'), from ASCII digits ('2', '02'); None for
    anything else ('³' and '٣' are digits to str.isdigit). '02' named version 2 to MLflow,
    but compared unequal to '2': `promote 02` of the champion v2 moved the alias again,
    recorded a manual promotion over the gate's decision, with v2 as its own predecessor
    and `superseded_by` 2. A number beyond the version column is no version either (the
    store failed on it: 'run the command again when the store answers')."""
    text = str(text)
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_VERSION:
        return None
    return str(int(text))


def absent(exc) -> bool:
    """Whether an MlflowException says that what was looked up does not exist, as opposed
    to a tracking store that could not answer (a server's 5xx, a refused permission, a
    lost connection): only the first may be read as "no such model / version / alias"."""
    return getattr(exc, "error_code", None) in _ABSENT


def store_failed(client, exc, doing: str) -> TrackingError:
    """The error for a store that could not answer while `doing` (e.g. "looking up the
    champion of 'fraud-ensemble'"): its URI, MLflow's error code and first line."""
    from fraud_app.tracking.http_deadline import deadline_exceeded

    if (late := deadline_exceeded(exc)) is not None:
        return late.again(f"while {doing}")
    first = (str(getattr(exc, "message", exc)).strip().splitlines() or [""])[0][:300]
    code = str(getattr(exc, "error_code", type(exc).__name__))
    said = first if first.startswith(code) else f"{code}: {first}"
    return TrackingError(
        f"the tracking store {redacted(client.tracking_uri)} could not answer while {doing} "
        f"({redacted(said)}); "
        "nothing was changed, run the command again when the store answers"
    )


def no_such_model(client, name: str, then: str) -> ModelLoadError:
    """The error for a registered model that does not exist, naming the ones that do (a
    typo in --name or registry.model_name is then plain to see); `then`: what to do."""
    from mlflow.exceptions import MlflowException

    try:
        names = sorted(m.name for m in client.search_registered_models(max_results=20))
    except MlflowException:
        names = None  # the listing is a courtesy: the error stands without it
    if names is None:
        known = ""
    elif not names:
        known = "; the store has no registered model yet"
    else:
        known = f"; registered: {', '.join(names)}"
    return ModelLoadError(f"registered model {name!r} does not exist{known}{then}")


def alias_version(client, name: str, alias: str) -> str | None:
    """The version `alias` of `name` names (None: no such alias, model or alias name)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if absent(exc):
            return None
        raise store_failed(client, exc, f"looking up alias {alias!r} of {name!r}") from None


def versions_filter(name: str) -> str:
    """MLflow's filter for the versions of `name`, quoted so that a name holding ' works
    (pasted between single quotes, `o'brien` stopped with `Invalid clause(s)` from MLflow)."""
    if "'" not in name:
        return f"name = '{name}'"
    if '"' not in name:
        return f'name = "{name}"'
    raise ModelLoadError(
        f"registered model name {name!r} holds both ' and \"; rename it in the registry "
        "(MLflow's search cannot quote it)"
    )


def registered_model(client, name: str):
    """The registered model `name` (its aliases and tags); ModelLoadError in words when the
    store has none of that name or cannot be read."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if not absent(exc):
            raise store_failed(client, exc, f"looking up model {name!r}") from None
        raise no_such_model(client, name, "; train one with `fraud-app train`") from None


def stage(mv) -> str | None:
    """A version's MLflow stage (legacy, set in the UI or by transition_model_version_stage:
    `Staging`, `Production`, `Archived`); None for MLflow's `None`. `models` shows it (a
    version someone retired looked like any other; `promote` warns about Archived ones)."""
    found = str(getattr(mv, "current_stage", "") or "")
    return None if found.lower() in ("", "none") else found


def list_versions(client, name: str, model=None) -> list[dict[str, Any]]:
    """Every version of `name`, newest first, with aliases, gate tags and run metrics.
    `model`: the registered model as `registered_model` read it, when the caller reads its
    tags too (`fraud-app models` prints its champion history from the same read)."""
    from mlflow.exceptions import MlflowException

    model = registered_model(client, name) if model is None else model
    history = read_history(model.tags)
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(versions_filter(name)):
        metrics = {}
        if mv.run_id:
            try:
                metrics = client.get_run(mv.run_id).data.metrics
            except MlflowException as exc:  # a deleted run: the version is still listed
                if not absent(exc):
                    raise store_failed(client, exc, f"reading run {mv.run_id}") from None
                metrics = {}
        rows.append({
            "version": str(mv.version),
            "aliases": sorted(aliases.get(str(mv.version), [])),
            "stage": stage(mv),
            "created": dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC).isoformat(timespec="seconds"),
            "run_id": mv.run_id,
            "validation_average_precision": metrics.get("validation_average_precision"),
            "test_average_precision": metrics.get("test_average_precision"),
            "test_roc_auc": metrics.get("test_roc_auc"),
            "gate": {k[len("gate."):]: v for k, v in (mv.tags or {}).items() if k.startswith("gate.")},
            "champion_periods": periods(history, str(mv.version)),
        })  # fmt: skip
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)
