"""`fraud-app etl`: raw files -> canonical Parquet + quarantine (config section `etl`)."""

from __future__ import annotations

import argparse

from fraud_app import jsonout
from fraud_app.config import AppConfig
from pipelines.commands._overrides import with_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", help="etl.input (default: paths.raw)")
    parser.add_argument("--format", choices=("csv", "parquet", "json"), help="etl.format")
    parser.add_argument("--output", help="etl.output (default: paths.canonical)")
    parser.add_argument(
        "--mode",
        choices=("replace", "append"),
        help="etl.mode: replace the table with this input, or append it (default: replace)",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.etl.pipeline import input_path, run_etl
    from fraud_app.etl.reader import check_local_input
    from fraud_app.spark.session import spark_session

    etl = with_flags(
        config.etl, "etl", input=args.input, format=args.format, output=args.output, mode=args.mode
    )
    config = config.model_copy(update={"etl": etl})
    spark = spark_session(config, before_start=lambda: check_local_input(input_path(config)))
    result = run_etl(spark, config)
    print(jsonout.dumps(result.to_dict(), indent=2))
    return 0
