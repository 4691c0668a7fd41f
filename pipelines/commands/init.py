"""`fraud-app init DIR`: a starter config and an editable copy of the shipped feature specs."""

from __future__ import annotations

import argparse

from fraud_app.config import AppConfig

USES_PATHS = False  # writes a project folder; neither creates nor reads paths.root


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", metavar="DIR", help="where to write config.yaml and feature_specs/")
    p.add_argument("--force", action="store_true", help="overwrite existing files")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.deploy import init_project
    from fraud_app.deploy.starter import shell_word
    from fraud_app.uris import local_argument

    directory = local_argument(args.directory, "init DIR", writes=True)
    written = init_project(directory, force=args.force)
    config_path = shell_word(str(written["config"]))
    print(f"wrote {written['config']} and {written['feature_specs']}/")
    # a user with an export of their own was told only to generate synthetic data
    print(
        f"your own data: put the export's files in {shell_word(str(written['raw']))} (or set "
        "etl.input), map its column names under etl.columns (e.g. transaction_id: TxnRef) and "
        "remove the mappings it has no column for, set validation.canonical.reference_time "
        f"(null: now) and label_rate_min / label_rate_max, then: fraud-app -c {config_path} run"
    )
    print(f"next: fraud-app -c {config_path} run --generate")
    return 0
