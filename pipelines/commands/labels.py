"""`fraud-app labels FILE_OR_DIR [...]`: a labels-only feed (late labels: chargebacks,
confirmed-fraud lists) applied to the canonical table (fraud_app.etl.labels)."""

from __future__ import annotations

import argparse

from fraud_app import jsonout
from fraud_app.config import AppConfig
from pipelines.commands._overrides import with_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE_OR_DIR",
        help="CSV, Parquet or JSON files (or folders of them) with transaction_id, label and "
        "optionally label_time, named as etl.columns maps them or by these names. A label "
        "fills an unlabelled row; a 1 for a published 0 (a chargeback) corrects it, known "
        "from its label_time (without one: from this run's time), when that is after the "
        "published label's known time; a 0 for a published 1 (a reversal) is quarantined",
    )
    parser.add_argument("--format", choices=("csv", "parquet", "json"), help="etl.format")
    parser.add_argument(
        "--output", help="the canonical table: etl.output (default: paths.canonical)"
    )
    parser.add_argument(
        "--corrections", choices=("apply", "quarantine"),
        help="etl.label_corrections: apply (default) a 0 -> 1 known after the published "
        "label, or quarantine every other label as conflicting_label",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.etl.labels import run_labels
    from fraud_app.spark.session import spark_session

    etl = with_flags(config.etl, "etl", format=args.format, output=args.output,
                     label_corrections=args.corrections)  # fmt: skip
    spark = spark_session(config)
    result = run_labels(spark, config.model_copy(update={"etl": etl}), list(args.inputs))
    print(jsonout.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return 0
