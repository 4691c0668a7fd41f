"""Backtest figures: per-fold metrics of every model, mean +- std, and the leakage checks,
from a `backtest-<run>.json` report (pipelines.backtest). Pure functions, no drawing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from dashboards.errors import DashboardInputError

METRICS: dict[str, str] = {  # report key -> label for people
    "average_precision": "average precision",
    "roc_auc": "ROC AUC",
    "recall_at_budget": "recall at the alert budget",
    "card_precision_at_k": "card precision@k",
}


def check_report(report: dict[str, Any], name: str) -> None:
    """The parts of the report the page reads; a broken one names what is missing."""
    folds = report.get("folds")
    if not isinstance(folds, list) or not folds:
        raise DashboardInputError(f"{name}: 'folds' must be a non-empty list of folds")
    for i, fold in enumerate(folds):
        if not isinstance(fold, dict) or not isinstance(fold.get("models"), dict):
            raise DashboardInputError(f"{name}: folds[{i}] has no 'models' object")
        number = fold.get("fold")
        if not isinstance(number, int) or isinstance(number, bool):
            raise DashboardInputError(
                f"{name}: folds[{i}].fold must be the fold's number. Received {number!r}"
            )
        for model, figures in fold["models"].items():
            if not isinstance(figures, dict):  # a KeyError / AttributeError traceback before
                raise DashboardInputError(
                    f"{name}: folds[{i}].models.{model} must be an object of metrics. "
                    f"Received {type(figures).__name__}"
                )


def fold_metrics(report: dict[str, Any]) -> pd.DataFrame:
    """Long table: fold, model, metric, value (one row per fold x model x metric)."""
    rows = [
        {"fold": int(f["fold"]), "model": model, "metric": metric, "value": _float(m.get(metric))}
        for f in report["folds"]
        for model, m in f["models"].items()
        for metric in METRICS
    ]
    return pd.DataFrame(rows, columns=["fold", "model", "metric", "value"])


def summary(report: dict[str, Any]) -> pd.DataFrame:
    """Mean and sample std (ddof 1, as the backtest's own summary) over folds per model and
    metric, NaN folds left out (`count`: the folds that define it); computed from the folds
    so the page never disagrees with them. A metric no fold defines (AP and AUC of test
    windows without fraud) keeps its row, NaN over 0 folds: it was dropped, and the table
    went on without it unsaid."""
    df = fold_metrics(report)
    out = df.groupby(["model", "metric"], sort=False)["value"].agg(["mean", "std", "count"])
    out.loc[out["count"] == 1, "std"] = 0.0  # one fold: no spread
    return out.reset_index()


@dataclass(frozen=True)
class Difference:
    metric: str
    versus: str
    mean: float
    per_fold: list[float]
    folds_ahead: int


def differences(report: dict[str, Any], model: str = "ensemble") -> list[Difference]:
    """`model` minus every other model, per metric: the mean and per-fold differences."""
    df = fold_metrics(report)
    # dropna=False: a metric undefined in every fold (no fraud in any test window: null AP)
    # keeps its rows as NaN; pivot_table's default dropped them and `xs` raised KeyError
    wide = df.pivot_table(index=["fold", "metric"], columns="model", values="value", dropna=False)
    out = []
    for other in [m for m in wide.columns if m != model] if model in wide.columns else []:
        for metric in METRICS:
            diff = (wide[model] - wide[other]).xs(metric, level="metric").dropna()
            if not diff.empty:
                out.append(Difference(metric, other, float(diff.mean()), diff.tolist(),
                                      int((diff > 0).sum())))  # fmt: skip
    return out


def leakage_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per fold: the cut-off, what the fold trained on, and whether it passed."""
    rows = []
    for f in report["folds"]:
        check = f.get("leakage_check") or {}
        rows.append({
            "fold": int(f["fold"]), "cutoff": check.get("cutoff"), "rows": check.get("rows"),
            "max_timestamp": check.get("max_timestamp"),
            "max_fraud_label_known_at": check.get("max_fraud_label_known_at"),
            "max_label_settled_at": check.get("max_label_settled_at"),
            "ok": check.get("ok"),
        })  # fmt: skip
    return rows


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
