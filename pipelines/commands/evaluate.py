"""`fraud-app evaluate MODEL --start S --end E`: a model on any window of the feature table."""

from __future__ import annotations

import argparse

from fraud_app import jsonout
from fraud_app.config import AppConfig
from pipelines.commands.score import parse_date


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        metavar="MODEL",
        help="registry URI (models:/fraud-ensemble@champion) or ensemble dir",
    )
    p.add_argument("--start", required=True, help="first date of the window, YYYY-MM-DD")
    p.add_argument("--end", required=True, help="last date of the window (inclusive)")
    p.add_argument(
        "--name",
        help="names the JSON: reports/evaluation-<name>.json (default: UTC timestamp); "
        "a name whose report exists is refused unless --replace",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace the report of an earlier evaluation of the same --name",
    )


def check_window_present(config: AppConfig, start, end) -> None:
    """Before the JVM starts: a local feature table none of whose date partitions falls in
    start..end is named at once, with the job's own error (it came after Spark had started
    and the model loaded: 75 s in the probe53a run on a loaded 2-core host); what the
    folders cannot tell (remote storage, a table not published) is left to the job."""
    from pipelines.commands.score import refuse_dates_absent

    refuse_dates_absent(
        config.feature_table(), start, end, "rows", "the feature table",
        "pick a window inside it, or run `fraud-app features` if the canonical table has "
        "received those dates since",
    )  # fmt: skip


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.scoring.evaluate import check_request, run_evaluation
    from fraud_app.spark.session import spark_session

    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    check_request(start, end, args.name, config, replace=args.replace)  # before the JVM starts
    check_window_present(config, start, end)
    from pipelines.commands.score import check_model_source

    check_model_source(args.model, config)
    spark = spark_session(config)
    report, path = run_evaluation(
        spark,
        config,
        model_uri=args.model,
        start=start,
        end=end,
        name=args.name,
        replace=args.replace,
    )
    keys = (
        "window",
        "trained_on",
        "dates_without_rows",
        "days_without_rows",
        "unlabelled_rows",
        "rows",
        "frauds",
        "roc_auc",
        "average_precision",
    )
    brief = {k: report[k] for k in keys}
    print(
        jsonout.dumps(
            {**brief, "alert_budgets": report["alert_budgets"], "report": str(path)}, indent=2
        )
    )
    return 0
