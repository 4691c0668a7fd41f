"""`fraud-app train`: feature table -> time splits -> balanced subsets -> distributed ensemble."""

from __future__ import annotations

import argparse

from fraud_app import jsonout
from fraud_app.config import AppConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run", help="run name (default: UTC timestamp); names the model, scores and report"
    )
    add_replace_argument(p)


def add_replace_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--replace",
        action="store_true",
        help="train again under a --run name that already finished, replacing its model, test "
        "scores and report (without it such a name is refused; an interrupted run resumes)",
    )


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.spark.session import spark_session
    from fraud_app.tracking.client import check_store_uri
    from fraud_app.tracking.ownership import check_before_training
    from pipelines.reporting import (
        index_path,
        log_dashboards_safely,
        render_dashboards_safely,
    )
    from pipelines.training.pipeline import run_training
    from pipelines.training.run_names import check_run_free

    check_run_free(config, args.run, replace=args.replace)  # before Spark starts
    check_store_uri(config)
    check_before_training(config)  # another project's model name on a shared store
    check_features_exist(config)
    spark = spark_session(config)
    report = run_training(spark, config, run=args.run, replace=args.replace)
    dashboards = render_dashboards_safely(config, report.run)
    log_dashboards_safely(config, report.mlflow_run_id, dashboards)
    print(
        jsonout.dumps(
            {
                "run": report.run,
                "model": report.model_path,
                "report": report.report_path,
                "metrics": report.metrics,
                "dashboards": str(index_path(config)) if dashboards else None,
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


def check_features_exist(config: AppConfig) -> None:
    """Before Spark starts: a local feature table must exist (remote ones are checked by Spark)."""
    from fraud_app.errors import EmptyInputError
    from fraud_app.features.table import METADATA_NAME
    from fraud_app.uris import local_path

    path = config.feature_table()
    local = local_path(path)
    if local is not None and not (local / METADATA_NAME).is_file():
        raise EmptyInputError(
            f"feature table {path} does not exist; run `fraud-app features` first"
        )
