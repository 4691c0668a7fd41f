"""`fraud-app train`: feature table -> time splits -> balanced subsets -> distributed ensemble."""

from __future__ import annotations

import argparse
import json

from fraud_app.config import AppConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run", help="run name (default: UTC timestamp); names the model, scores and report"
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.spark.session import get_spark
    from pipelines.training.pipeline import run_training

    spark = get_spark(config.spark.master, config.spark.app_name, config.spark.conf)
    report = run_training(spark, config, run=args.run)
    print(
        json.dumps(
            {
                "run": report.run,
                "model": report.model_path,
                "report": report.report_path,
                "metrics": report.metrics,
                "model_uri": report.model_uri,
                "registry": report.registry,
                "baselines": report.baselines,
                "mlflow_run_id": report.mlflow_run_id,
            },
            indent=2,
            default=str,
        )
    )
    from pipelines.commands.run import _print_lifecycle

    _print_lifecycle({"registry": report.registry, "baselines": report.baselines}, config)
    return 0
