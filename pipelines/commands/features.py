"""`fraud-app features`: canonical table -> feature table (config section `features`)."""

from __future__ import annotations

import argparse
import time

from fraud_app import jsonout
from fraud_app.config import AppConfig
from pipelines.commands._overrides import with_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", help="features.input (default: etl.output, else paths.canonical)"
    )
    parser.add_argument("--output", help="features.output (default: paths.features)")
    parser.add_argument("--spec-dir", help="features.spec_dir")
    parser.add_argument(
        "--spec-file",
        action="append",
        dest="spec_files",
        help="features.spec_files (repeatable; default: every *.yaml in the spec dir)",
    )
    parser.add_argument("--label-delay-days", type=float, help="features.label_delay_days")
    parser.add_argument(
        "--full",
        action="store_true",
        help="rebuild the whole table (features.incremental: false); default: recompute "
        "only the dates from the first canonical date changed since the last run",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.features.pipeline import build_feature_table, check_feature_specs
    from fraud_app.spark.session import spark_session

    cfg = with_flags(
        config.features,
        "features",
        input=args.input,
        output=args.output,
        spec_dir=args.spec_dir,
        spec_files=tuple(args.spec_files) if args.spec_files else None,
        label_delay_days=args.label_delay_days,
        incremental=False if args.full else None,
    )
    # a spec mistake is one line before the JVM starts
    feature_set = check_feature_specs(cfg, config.etl.bounds.min_amount)
    spark = spark_session(config)
    started = time.monotonic()
    summary = build_feature_table(spark, config.model_copy(update={"features": cfg}), feature_set)
    out = {**summary.to_dict(), "total_seconds": round(time.monotonic() - started, 1)}
    print(jsonout.dumps(out, indent=2, default=str))
    return 0
