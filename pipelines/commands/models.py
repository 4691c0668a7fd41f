"""`fraud-app models`: the registered ensemble's versions with aliases, gate figures and metrics."""

from __future__ import annotations

import argparse

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError
from fraud_app.uris import redacted
from pipelines.commands._overrides import registered_name


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="registered model name (default: registry.model_name)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _fmt(x) -> str:
    return "-" if x is None or x == "" else (f"{x:.4f}" if isinstance(x, float) else str(x))


def run(args: argparse.Namespace, config: AppConfig) -> int:
    if not config.tracking.enabled:
        raise ConfigError("`fraud-app models` needs tracking.enabled: true (the registry)")
    from fraud_app.tracking.client import client, connect
    from fraud_app.tracking.registry import list_versions, registered_model

    name = registered_name(args.name, config)
    store = connect(config, must_exist=True)
    registry_client = client(store.uri)
    model = registered_model(registry_client, name)  # read once: the table and the history
    rows = list_versions(registry_client, name, model)
    if args.json:
        print(jsonout.dumps(rows, indent=2, default=str))
        return 0
    print(f"{name} ({redacted(store.uri)})")
    if other := _other_project(model, config):
        print(other)
    # MLflow's legacy stage, only when a version has one (an Archived version looked like
    # any other; `promote` warns about it)
    staged = any(r.get("stage") for r in rows)
    stage_head = f"{'stage':<10} " if staged else ""
    print(
        f"{'version':>7}  {'aliases':<20} {'val AP':>7} {'test AP':>7} {'test AUC':>8}  {'gate':<10} "
        f"{stage_head}created"
    )
    unvalidated = []
    for r in rows:
        val_ap = _fmt(r["validation_average_precision"])
        if r["gate"].get("validation_ap_undefined") == "true":
            val_ap = "undef*"
            unvalidated.append(r["version"])
        stage = f"{r.get('stage') or '-':<10} " if staged else ""
        print(
            f"{r['version']:>7}  {','.join(r['aliases']) or '-':<20} "
            f"{val_ap:>7} {_fmt(r['test_average_precision']):>7} "
            f"{_fmt(r['test_roc_auc']):>8}  {r['gate'].get('decision', '-'):<10} {stage}{r['created']}"
        )
    _print_history(model)
    if unvalidated:
        print(
            f"* validation AP undefined (no frauds in the validation window): "
            f"v{', v'.join(unvalidated)}; the gate promotes such a version only when there is "
            "no champion and registry.promote_undefined_ap is true (`fraud-app promote "
            "VERSION` promotes one by hand)"
        )
    return 0


def _other_project(model, config: AppConfig) -> str | None:
    """A line when the model belongs to another project of a shared store (the listing
    showed its versions and champion as if they were this project's)."""
    from fraud_app.tracking.ownership import PROJECT_TAG, other_owner, project_identity

    owner = other_owner((model.tags or {}).get(PROJECT_TAG), config)
    if owner is None:
        return None
    me = project_identity(config)
    return (
        f"NOTE: this model belongs to another project ({PROJECT_TAG} {owner!r}; this project "
        f"is {me!r}): its train and promote are refused here (set registry.model_name, or "
        f"tracking.project: {owner!r} if this is that project)"
    )


def _print_history(model) -> None:
    """Who was the champion when (the newest moves first): a rollback and what it replaced
    are read here (the table showed only where the aliases are now). `model`: the registered
    model the table was listed from (it was read a second time here: session 37)."""
    from fraud_app.tracking.champion_history import history_lines, read_history

    history = read_history(model.tags)
    if history:
        print("champion history (newest first):")
        print("\n".join(history_lines(history)))
