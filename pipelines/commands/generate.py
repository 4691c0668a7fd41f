"""`fraud-app generate`: write synthetic raw transactions (config section `generate`)."""

from __future__ import annotations

import argparse
import time

from fraud_app import jsonout
from fraud_app.config import AppConfig
from pipelines.commands._overrides import with_flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, help="generate.n_transactions")
    parser.add_argument("--seed", type=int, help="generate.seed")
    parser.add_argument("--output", help="generate.output (default: paths.raw)")
    parser.add_argument("--format", choices=("csv", "parquet", "json"), help="generate.format")
    parser.add_argument("--dirty-fraction", type=float, help="generate.dirty_fraction")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.data.generator import generate_raw, plan_segments, write_raw
    from fraud_app.spark.session import spark_session

    cfg = with_flags(
        config.generate,
        "generate",
        n_transactions=args.rows,
        seed=args.seed,
        output=args.output,
        format=args.format,
        dirty_fraction=args.dirty_fraction,
    )
    path = cfg.output or config.paths.resolve("raw")
    plan_segments(cfg)  # a row budget too small for the frauds is a ConfigError before Spark
    spark = spark_session(config)
    started = time.monotonic()
    write_raw(generate_raw(spark, cfg), path, cfg.format)
    frauds = {s.pattern.name: s.frauds for s in plan_segments(cfg) if s.pattern.name}
    summary = {
        "output": path,
        "format": cfg.format,
        "transactions": cfg.n_transactions,
        "frauds_by_pattern": frauds,
        "fraud_rate": round(sum(frauds.values()) / cfg.n_transactions, 6),
        "dirty_fraction": cfg.dirty_fraction,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(jsonout.dumps(summary, indent=2))
    return 0
