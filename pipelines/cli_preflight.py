"""Checks the CLI makes before any Spark starts: name flags and paths.root.

Owns `check_flag_names` (a run name, job id or evaluation name is one plain path component)
and `check_root` (paths.root is a directory this user can create and write; one it creates
is private, 0700, as it will hold card data). What a valid
name is belongs to fraud_app.naming; what is local or remote to fraud_app.uris.
"""

from __future__ import annotations

import argparse
import contextlib

from fraud_app.config import AppConfig
from fraud_app.errors import EnvironmentSetupError
from fraud_app.uris import local_path, unwritable

# flags whose value becomes part of a file name (a run's model directory, report, job id)
_NAME_FLAGS = {"run": "--run", "run_name": "--run-name", "job_id": "--job-id"}


def check_flag_names(args: argparse.Namespace) -> None:
    """Before Spark starts: a run name such as `../x` would write outside paths.root."""
    from fraud_app.naming import check_name

    for attr, flag in _NAME_FLAGS.items():
        if getattr(args, attr, None) is not None:
            check_name(getattr(args, attr), flag)
    if args.command == "evaluate" and args.name is not None:
        check_name(args.name, "--name")


def check_root(config: AppConfig) -> None:
    """paths.root must be a directory we can create and write (remote URIs are left to Spark).

    A root that does not exist yet is created 0700: under it go card ids and scores
    (Spark writes its tables 0644 under a umask of 022), the tracking store, models and
    checkpoints; made 0755 by the umask, any local user could read them. A root that
    exists keeps its mode (a directory shared with a team's group is a choice)."""
    root = config.paths.root
    path = local_path(root)
    if path is None:  # hdfs:/x as much as hdfs://nn/x (fraud_app.uris)
        return
    with contextlib.suppress(OSError):  # if this fails, `unwritable` says why
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700)
    exc = unwritable(path)
    if exc is not None:
        raise EnvironmentSetupError(
            f"paths.root {root!r} is not a writable directory ({exc.strerror or exc}); set "
            "paths.root in the config to a directory you can write"
        ) from exc
