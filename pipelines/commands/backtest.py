"""`fraud-app backtest`: K rolling folds (train / validation / gap / test advancing by a step)."""

from __future__ import annotations

import argparse
import sys

from fraud_app import jsonout
from fraud_app.config import AppConfig
from pipelines.commands._overrides import with_flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        help="run name, names the report reports/backtest-<run>.json (default: UTC timestamp); "
        "a name whose report exists is refused unless --replace",
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace the report (and refit checkpoints) of an earlier backtest of this --run",
    )
    p.add_argument("--folds", type=int, help="number of folds (backtest.folds)")
    p.add_argument("--step-days", type=float, help="days between folds (backtest.step_days)")
    p.add_argument("--train-days", type=float, help="train window days (backtest.train_days)")
    p.add_argument("--validation-days", type=float, help="backtest.validation_days")
    p.add_argument("--test-days", type=float, help="backtest.test_days")
    p.add_argument(
        "--test-gap-days",
        type=float,
        help="gap before test (default: the label delay; shorter, every fold's leakage check "
        "fails)",
    )
    # text, checked as backtest.end is (argparse's `invalid fromisoformat value` named no format)
    p.add_argument("--end", help="exclusive end of the newest test, YYYY-MM-DD (backtest.end)")
    p.add_argument("--baseline", choices=["gbt", "xgboost", "none"], help="backtest.baseline")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.evaluation.baseline import check_available
    from fraud_app.spark.session import spark_session
    from pipelines.backtest.pipeline import check_run, run_backtest
    from pipelines.backtest.report import format_table, leakage_error
    from pipelines.commands.train import check_features_exist
    from pipelines.reporting import render_backtest_safely

    cfg = with_flags(
        config.backtest,
        "backtest",
        folds=args.folds,
        step_days=args.step_days,
        train_days=args.train_days,
        validation_days=args.validation_days,
        test_days=args.test_days,
        test_gap_days=args.test_gap_days,
        end=args.end,
        baseline=args.baseline,
    )
    check_run(config, args.run, replace=args.replace)  # before the JVM starts
    check_available(cfg.baseline)  # (it came after Spark had started and read the table)
    check_features_exist(config)
    spark = spark_session(config)
    report = run_backtest(spark, config, cfg, run=args.run, replace=args.replace)
    pages = [p for p in render_backtest_safely(config, report["run"]) if p.suffix == ".html"]
    if args.json:
        print(jsonout.dumps(report, indent=2, default=str))
    else:
        print(format_table(report))
        print(f"report: {report['report_path']}")
        if pages:
            print(f"dashboard page: {pages[0]}")
    if (problem := leakage_error(report)) is not None:  # a failed step: exit 2 (it was 1)
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0
