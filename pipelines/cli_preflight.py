"""Checks the CLI makes before any Spark starts: name flags and paths.root.

Owns `check_flag_names` (a run name, job id or evaluation name is one plain path component)
and `check_root` (paths.root is a directory this user can create and write; one it creates
is private, 0700, as it will hold card data: fraud_app.root_access). What a valid
name is belongs to fraud_app.naming; what is local or remote to fraud_app.uris.
"""

from __future__ import annotations

import argparse

from fraud_app.config import AppConfig
from fraud_app.root_access import check_root_access, make_root

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
    """paths.root must be a directory we can create and write (remote URIs are left to Spark);
    one made here is 0700 (card ids go under it), and one every user could write is refused
    (fraud_app.root_access: the rule load_config applies for the Python API too)."""
    root, setting = config.paths.driver_root(), config.paths.driver_setting()
    make_root(root, setting)
    check_root_access(root, setting)
