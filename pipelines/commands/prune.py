"""`fraud-app prune [--dry-run]`: remove the per-run records the `retention` rules no longer
keep (pipelines.prune). stderr: one line per item removed (or that would be) and per item
kept for a reason of its own; stdout: the summary line."""

from __future__ import annotations

import argparse
import logging
import sys

from fraud_app.config import AppConfig
from fraud_app.uris import local_argument

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be removed and the bytes it would free; remove nothing",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from pipelines.prune.pipeline import prune, summary

    rules = config.retention
    from pipelines.prune.pipeline import KINDS

    if all(getattr(rules, kind).keeps_all() for kind in KINDS):
        logger.info("prune: no retention rule is set (retention.* in the config, docs/CONFIG.md): "
                    "everything is kept")  # fmt: skip
    # the path load_config read (a file: URI as its local path)
    config_file = local_argument(args.config, "--config", writes=False) if args.config else None
    result = prune(config, dry_run=args.dry_run, config_file=config_file)
    print(summary(result))
    sys.stdout.flush()
    return 3 if result.failed else 0
