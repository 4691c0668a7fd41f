"""`fraud-app init DIR`: a starter config and an editable copy of the shipped feature specs."""

from __future__ import annotations

import argparse

from fraud_app.config import AppConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", help="where to write config.yaml and feature_specs/")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.deploy import init_project
    from fraud_app.deploy.starter import shell_word

    written = init_project(args.directory, force=args.force)
    print(f"wrote {written['config']} and {written['feature_specs']}/")
    print(f"next: fraud-app -c {shell_word(str(written['config']))} run --generate")
    return 0
