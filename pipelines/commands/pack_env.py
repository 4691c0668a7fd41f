"""`fraud-app pack-env OUT.tar.gz`: this environment, with fraud-app, for Spark executors."""

from __future__ import annotations

import argparse
import shlex

from fraud_app.config import AppConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUT.tar.gz", help="archive to write (.tar.gz)")
    p.add_argument("--force", action="store_true", help="overwrite an existing archive")
    p.add_argument(
        "--keep-pyspark",
        action="store_true",
        help="keep the venv's pyspark (default: left out; executors use the cluster's)",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.deploy.packenv import DEFAULT_EXCLUDES, pack_environment
    from fraud_app.uris import local_argument

    output = local_argument(args.output, "pack-env OUT.tar.gz", writes=True)
    excludes = () if args.keep_pyspark else DEFAULT_EXCLUDES
    out = pack_environment(output, excludes=excludes, force=args.force)
    print(f"packed {out} ({out.stat().st_size / 1e6:,.0f} MB)")
    print(f"use it: fraud-app --env-archive {shlex.quote(str(out))} --master spark://HOST:7077 run")
    return 0
