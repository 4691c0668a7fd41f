"""`fraud-app promote VERSION`: manual override of the promotion gate (logged as such)."""

from __future__ import annotations

import argparse
import re
import sys

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError, ModelLoadError, TrackingError
from pipelines.commands._overrides import registered_name

_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,255}")  # what MLflow takes as an alias name


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "version",
        metavar="VERSION",
        help="model version to make the champion (see `fraud-app models`)",
    )
    p.add_argument("--name", help="registered model name (default: registry.model_name)")
    p.add_argument(
        "--reason",
        default="",
        help="why (recorded on the version and the run; at most 5,000 characters)",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    if not config.tracking.enabled:
        raise ConfigError("`fraud-app promote` needs tracking.enabled: true (the registry)")
    from fraud_app.tracking.client import client, connect
    from fraud_app.tracking.ownership import check_owner
    from fraud_app.tracking.registry import MAX_VERSION, check_reason, promote, version_number
    from fraud_app.tracking.store_lock import store_lock

    check_reason(args.reason)  # before the store is asked (a download, the lock)
    name = registered_name(args.name, config)
    version = version_number(args.version)
    if version is None:  # '02' is version 2, as the registry names it
        raise ConfigError(
            f"VERSION must be a version number such as 3 (digits 0-9, at most {MAX_VERSION}). "
            f"Received: {args.version!r}{_alias_hint(args.version, name, config)}"
        )
    store = connect(config, must_exist=True)
    check_owner(client(store.uri), config, name, (
        "promote would move that project's `champion`, which it scores its transactions "
        "with; nothing was changed"
    ))  # fmt: skip
    _check_loads(name, version, config)
    # the lock a training run's gate holds while it registers (no alias move in between)
    with store_lock(store.uri, config.tracking.flush_timeout_s, "promote"):
        d = promote(
            client(store.uri), name, version, experiment_id=store.experiment_id,
            reason=args.reason,
        )  # fmt: skip
    # stdout: the decision as JSON only (`| jq` and json.loads read it); the line for a
    # person goes to stderr, as the logs do (it followed the JSON on stdout)
    print(jsonout.dumps(d.to_dict(), indent=2))
    if d.decision == "unchanged":
        done = d.reason.partition("; ")[2]  # a killed promote of it finished (registry.promote)
        print(f"fraud-app: {name} v{d.version} is already the champion; "
              f"{done or 'nothing changed'}.", file=sys.stderr)  # fmt: skip
        return 0
    was = f"v{d.champion_version}" if d.champion_version else "none"
    print(f"fraud-app: {name} v{d.version} is now the champion (previous: {was}).",
          file=sys.stderr)  # fmt: skip
    return 0


def _alias_hint(text: str, name: str, config: AppConfig) -> str:
    """When `text` is an alias of `name` (`challenger`, `@champion`): which version it names
    (`promote challenger` said only "must be a version number")."""
    from fraud_app.tracking.client import client, connect
    from fraud_app.tracking.registry import CHAMPION, alias_version, version_number

    alias = text.strip().lstrip("@")
    if not _ALIAS.fullmatch(alias) or version_number(alias) is not None:
        return ""  # no alias name ('³', a number too large): no store asked
    try:
        version = alias_version(client(connect(config, must_exist=True).uri), name, alias)
    except (ConfigError, ModelLoadError, TrackingError):
        return ""  # no store, no such model: the version error stands alone
    if version is None:
        return ""
    if alias == CHAMPION:
        return (f", the alias of {name} v{version}, the champion already; to put another "
                "version back, give its number (`fraud-app models` lists them)")  # fmt: skip
    return (f", an alias of {name}: it names v{version} now; run `fraud-app promote "
            f"{version}` (a number: what is promoted cannot move while you decide)")  # fmt: skip


def _check_loads(name: str, version: str, config: AppConfig) -> None:
    """The version must hold an ensemble that loads, as `score` of `@champion` will read it:
    a version registered by hand (another team's model, a path holding nothing) became the
    champion without a word and every scoring run failed afterwards. Downloads it into the
    model cache that `score` reuses; an absent version keeps its own message."""
    from fraud_app.models.ensemble import FraudEnsemble
    from fraud_app.tracking.models import resolve_model

    uri = f"models:/{name}/{version}"
    try:
        resolved = resolve_model(uri, config=config)
        FraudEnsemble.load(resolved.directory)
    except ModelLoadError as exc:
        if "does not exist" in str(exc) and "see `fraud-app models`" in str(exc):
            # no such version, alias or registered model (`--name` mistyped): its own line
            # (a missing registered model read "its model does not load as an ensemble")
            raise
        raise ModelLoadError(
            f"cannot promote {name} v{version}: its model does not load as an ensemble "
            f"({exc}); the champion is unchanged. Promote a version that `fraud-app train` "
            "registered (see `fraud-app models`)"
        ) from None
