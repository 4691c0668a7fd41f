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
    from fraud_app.spark.session import spark_session
    from pipelines.reporting import index_path, render_dashboards_safely
    from pipelines.training.pipeline import run_training

    spark = spark_session(config)
    report = run_training(spark, config, run=args.run)
    dashboards = render_dashboards_safely(config, report.run)
    print(
        json.dumps(
            {
                "run": report.run,
                "model": report.model_path,
                "report": report.report_path,
                "metrics": report.metrics,
                "dashboards": str(index_path(config)) if dashboards else None,
            },
            indent=2,
        )
    )
    return 0
