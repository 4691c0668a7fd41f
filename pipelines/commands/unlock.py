"""`fraud-app unlock [--force PATH]`: the locks and commit markers under the configured
paths, who holds each, whether this host can judge it; `--force PATH` clears one that is
dead or that this host cannot judge, on the operator's word (pipelines.unlock).

stdout: the listing (`--json`: a JSON object for schedulers) or the clearing's record;
exit 0 when nothing needs an operator (or the clearing was done), EXIT_STUCK when a lock
or marker is refused to every run until cleared (`--force`), 2 for a refusal (a holder
that still runs, a path that is no lock)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fraud_app import jsonout
from fraud_app.config import AppConfig
from fraud_app.errors import ConfigError

EXIT_STUCK = 4  # something is refused to every run until an operator clears it


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON (for schedulers)")
    p.add_argument(
        "--force", metavar="PATH",
        help="clear this lock or marker (as listed) when its holder is gone or this host "
        "cannot tell; judged again first; recorded under .fraud-app-unlock/ in "
        "paths.local_root, else paths.root",
    )  # fmt: skip
    p.add_argument(
        "--even-if-alive", action="store_true",
        help="with --force: clear it even when its holder still runs (that run then shares "
        "what the lock guards with the next one)",
    )  # fmt: skip
    p.add_argument("--reason", default="", help="why (recorded in the audit file)")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from pipelines.unlock.clear import audit_dir, clear_lock, clear_marker, same_path
    from pipelines.unlock.inventory import lock_dir

    if args.even_if_alive and not args.force:
        raise ConfigError("--even-if-alive goes with --force PATH (what to clear)")
    lock_dir(config.paths.driver_root())  # a remote root: refused before Spark starts
    fs, found = _inventory(config)
    if not args.force:
        return _report(found, args.json, config)
    target = next((f for f in found if same_path(args.force, f.path)), None)
    if target is None:
        listed = ", ".join(f.path for f in found) or "none"
        raise ConfigError(f"--force {args.force}: not a lock or commit marker of this config "
                          f"(listed: {listed}); expected a path `fraud-app unlock` lists")  # fmt: skip
    if target.kind in ("tracking store lock", "reader registration"):
        raise ConfigError(f"{target.path}: {target.on_clear}")
    if target.kind == "commit marker":
        from pipelines.unlock.markers import table_markers

        kind = "features" if _is_feature_marker(config, target.path) else "canonical"
        table = target.path.split("/_staging/", 1)[0]
        quarantine = config.etl_tables()[1] if kind == "canonical" else None
        record = clear_marker(config.paths.driver_root(), fs, target, args.even_if_alive, args.reason,
                              table_markers(fs, table, kind), quarantine)  # fmt: skip
    else:
        record = clear_lock(config.paths.driver_root(), target, args.even_if_alive, args.reason)
    text = record.read_text(encoding="utf-8")
    if args.json:
        print(text)
    else:
        print(
            f"cleared {target.path}; recorded in {record} (audit folder {audit_dir(config.paths.driver_root())})"
        )
    return 0


def _is_feature_marker(config: AppConfig, path: str) -> bool:
    from pipelines.unlock.clear import same_path

    return same_path(path.split("/_staging/", 1)[0], config.feature_table())


def _inventory(config: AppConfig):
    """(HadoopFs or None, every lock and marker). Spark starts only where a table has
    staging with a marker in it, or is not on a local disk (only Hadoop can list it)."""
    from fraud_app.tracking.store_lock import lock_path
    from pipelines.unlock.inventory import inventory, staged

    store = None
    if config.tracking.enabled:
        from fraud_app.tracking.client import tracking_uri

        store = lock_path(tracking_uri(config))
    tables = {"canonical": config.etl_tables()[0], "features": config.feature_table()}
    fs = None
    if any(staged(t) is not False for t in tables.values()):
        from fraud_app.etl.fs import HadoopFs
        from fraud_app.spark.session import spark_session

        fs = HadoopFs(spark_session(config))

    def markers(table: str):
        from pipelines.unlock.markers import table_markers

        kind = "features" if table == tables["features"] else "canonical"
        return table_markers(fs, table, kind)

    return fs, inventory(config, store, markers if fs is not None else None)


def _report(found: list, as_json: bool, config: AppConfig) -> int:
    stuck = [f for f in found if f.needs_force]
    code = EXIT_STUCK if stuck else 0
    if as_json:
        print(jsonout.dumps({"root": str(Path(config.paths.driver_root())), "stuck": len(stuck),
                             "exit_code": code, "found": [f.to_dict() for f in found]},
                            indent=2, default=str))  # fmt: skip
        return code
    if not found:
        print("nothing locked: no lock or commit marker under the configured paths")
        return 0
    for f in found:
        who = f.holder
        held = (f"{who.get('command', '?')} (pid {who.get('pid', '?')} on host "
                f"{who.get('host', '?')}, started {who.get('started_at', '?')}"
                + (f", {f.age_s:.0f} s ago" if f.age_s is not None else "") + ")"
                if who else "-")  # fmt: skip
        print(f"{f.state:<10} {f.kind}: {f.path}\n  guards: {f.guards}\n  held by: {held}\n"
              f"  judged: {f.reason}\n  --force: {f.on_clear}")  # fmt: skip
    if stuck:
        print(f"{len(stuck)} refused to every run until cleared: check the holder on its host, "
              "then `fraud-app unlock --force PATH`", file=sys.stderr)  # fmt: skip
    return code
