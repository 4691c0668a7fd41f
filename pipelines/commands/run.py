"""`fraud-app run`: the whole workflow ([generate,] ETL, validation, features, validation, training, scoring of the test window) from one config file."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from fraud_app import jsonout
from fraud_app.config import AppConfig
from pipelines.commands.train import add_replace_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generate", action="store_true", help="first write synthetic raw data (demo)")
    p.add_argument("--run", help="run name (default: UTC timestamp)")
    add_replace_argument(p)


def run(args: argparse.Namespace, config: AppConfig) -> int:
    from fraud_app.features.pipeline import check_feature_specs
    from fraud_app.spark.session import spark_session
    from fraud_app.tracking.client import check_store_uri
    from fraud_app.tracking.ownership import check_before_training
    from pipelines.reporting import (
        index_path,
        log_dashboards_safely,
        render_dashboards_safely,
    )
    from pipelines.training.run_names import check_run_free
    from pipelines.workflow.pipeline import run_workflow

    check_run_free(config, args.run, replace=args.replace)  # before Spark and the ETL
    check_store_uri(config)
    check_before_training(config)  # another project's model name on a shared store
    # not after the ETL and validation
    feature_set = check_feature_specs(config.features, config.etl.bounds.min_amount)
    if args.generate:  # a row budget too small for the frauds: a ConfigError before Spark
        from fraud_app.data.generator import plan_segments

        plan_segments(config.generate)
    spark = spark_session(config)
    # warm_up: the GX import and the tracking store, while the generated data is written
    result = run_workflow(
        spark, config, generate=args.generate, run=args.run, warm_up=True,
        replace=args.replace, feature_set=feature_set,
    )  # fmt: skip
    test = result.steps["train"]["metrics"]["test"]
    run_name = Path(result.steps["train"]["report"]).stem.removeprefix("training-")
    dashboards = render_dashboards_safely(config, run_name)
    log_dashboards_safely(config, result.steps["train"].get("mlflow_run_id"), dashboards)
    # stdout: the result as JSON only; the lines for a person go to stderr, as the logs do
    # (they followed the JSON on stdout, which no JSON reader then took)
    print(jsonout.dumps({"seconds": result.seconds, "steps": result.steps}, indent=2, default=str))
    print(_summary(test, result.seconds["train"], result.steps["train"]["model"],
                   config.scoring.alert_budget), file=sys.stderr)  # fmt: skip
    if dashboards:
        print(f"fraud-app: dashboards: {index_path(config).resolve()}", file=sys.stderr)
    _print_lifecycle(result.steps["train"], config)
    return 0


def _summary(test: dict, seconds: float, model: str, budget: float = 0.01) -> str:
    """The line `run` ends with. A test window without frauds has no ROC AUC, AP or recall:
    said so (it printed `ROC AUC nan, ... recall ... nan%`). The recall is the daily alert
    budget's (`recall_at_budget`: each day's top ceil(budget x rows of the day), as
    `evaluate`, `backtest` and the dashboards count it); it printed `recall_at_alert_0.01`,
    the top 1 % of the whole window, under the same name (52.4 % where evaluation-<run>-test
    said 38.1 % at the 1 % budget). Its alert count follows it, and the budget's quota when
    rows tied at a day's cut-off made more alerts (all in): a recall of more alerts."""
    recall = test.get("recall_at_budget")
    shown = f"{recall:.1%}" if isinstance(recall, int | float) and math.isfinite(recall) else None
    if shown:
        shown += _alert_count(test.get("alerts_at_budget"), test.get("alert_quota"))
    return (
        f"fraud-app: trained an ensemble in {seconds:.0f}s; test window ({test['rows']:,} "
        f"transactions, {test['frauds']} frauds): ROC AUC {_figure(test['roc_auc'])}, average "
        f"precision {_figure(test['average_precision'])}, recall at the daily alert budget "
        f"({budget * 100:.3g}% of each day's transactions) {shown or _figure(recall)}. Model: {model}"
    )


def _alert_count(alerts, quota) -> str:
    """` (N alerts)`, with the quota when ties made more; `` for a report without them."""
    if not isinstance(alerts, int) or isinstance(alerts, bool):
        return ""
    if isinstance(quota, int) and not isinstance(quota, bool) and alerts > quota:
        return (
            f" ({alerts:,} alerts where the budget allows {quota:,}: rows tied at a day's "
            "cut-off score are all in)"
        )
    return f" ({alerts:,} alerts)"


def _figure(x) -> str:
    """A metric for a person: 4 decimals, or why there is none (a window without frauds
    has no AP or ROC AUC: NaN in memory, null in the JSON; it printed `nan`)."""
    if isinstance(x, int | float) and math.isfinite(x):
        return f"{x:.4f}"
    return "undefined (no fraud in the window)"


def _last_day(window: dict) -> str:
    """The gate window's last day of rows (`last_day`); a decision recorded before it had
    one: its `end`, the date of the window's end instant."""
    return str(window.get("last_day") or window.get("end") or "?")


def _undefined_ap_line(reg: dict) -> str:
    """What the gate did with a version whose validation AP is undefined (no frauds in the
    validation window), and what to do: it was promoted without a word."""
    window = reg.get("window") or {}
    where = f"the validation window {window.get('start', '?')}..{_last_day(window)}"
    v, name = reg["version"], reg["name"]
    if reg["decision"] == "champion":
        return (
            f"fraud-app: WARNING: v{v} is the champion although its validation AP is undefined "
            f"(no frauds in {where}): nothing shows it ranks frauds; it was promoted because "
            "there was no champion (registry.promote_undefined_ap: false keeps such a version "
            "challenger); tagged gate.validation_ap_undefined"
        )
    if reg.get("champion_version"):
        return (
            f"fraud-app: v{v} was not compared with champion v{reg['champion_version']}: its "
            f"validation AP is undefined (no frauds in {where}); v{reg['champion_version']} "
            "stays the champion. Give splits.validation_days a window that holds frauds"
        )
    return (
        f"fraud-app: WARNING: v{v} was NOT promoted: its validation AP is undefined (no frauds "
        f"in {where}) and there is no champion yet, so models:/{name}@champion names no model. "
        f"Give splits.validation_days a window that holds frauds and train again, or promote "
        f"it by hand: fraud-app promote {v} (registry.promote_undefined_ap: true promotes such "
        "a first version automatically)"
    )


def _print_lifecycle(train: dict, config: AppConfig) -> None:
    """Registry decision, baselines, and how to open the MLflow UI (what `make demo` ends
    with), on stderr."""
    from fraud_app.tracking.client import ui_hint

    reg = train.get("registry") or {}
    if reg.get("version"):
        champ = reg.get("champion_ap")
        vs = (
            f" vs champion v{reg['champion_version']} {_figure(champ)}" if champ is not None else ""
        )
        window = reg.get("window") or {}
        if reg.get("new_ap") is None and not reg.get("validation_ap_undefined"):
            detail = reg.get("reason") or "not compared"  # the champion trained on the window
        else:
            detail = f"validation AP {_figure(reg['new_ap'])}{vs}; margin {reg['margin']:g}"
            if str(reg.get("reason") or "").startswith("not compared"):
                # a champion of other features, or of an older release without its dates
                detail = f"validation AP {_figure(reg['new_ap'])}; {reg['reason']}"
            if window.get("champion_trained_through"):
                detail += (
                    f"; on {window['start']}..{_last_day(window)} only: the champion trained on "
                    "the window's earlier days"
                )
        print(
            f"fraud-app: registered {reg['name']} v{reg['version']} -> {reg['decision']} ({detail})",
            file=sys.stderr,
        )
        if reg.get("validation_ap_undefined"):
            print(_undefined_ap_line(reg), file=sys.stderr)
    for name, b in (train.get("baselines") or {}).items():
        print(f"fraud-app: baseline {name}: test AP {_figure(b['test']['average_precision'])}, "
              f"ROC AUC {_figure(b['test']['roc_auc'])}", file=sys.stderr)  # fmt: skip
    hint = ui_hint(config)
    if hint:
        print(f"fraud-app: MLflow runs and models: {hint}", file=sys.stderr)
