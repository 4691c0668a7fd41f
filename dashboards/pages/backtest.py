"""Backtest page: mean +- std per model and metric, the ensemble's lead over the baseline
fold by fold, per-fold metrics as bars, the fold windows and the leakage check of each
fold, from one `backtest-<run>.json` report (pipelines.backtest)."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from dashboards.html import (
    COLORS,
    Section,
    figure,
    fmt_int,
    fmt_num,
    fmt_seconds,
    style,
    subplots,
    table,
)
from dashboards.prep.backtest import METRICS, differences, fold_metrics, leakage_rows, summary


def sections(report: dict[str, Any]) -> list[Section]:
    out = [_summary(report)]
    diffs = differences(report)
    if diffs:
        out.append(_differences(diffs))
    out.append(_per_fold(report))
    out.append(_folds(report))
    out.append(_leakage(report))
    return out


def _summary(report: dict[str, Any]) -> Section:
    s = summary(report)
    rows = [
        [model, METRICS[metric], fmt_num(mean, 4), fmt_num(std, 4), fmt_int(count)]
        for model, metric, mean, std, count in s[["model", "metric", "mean", "std", "count"]]
        .itertuples(index=False)
    ]  # fmt: skip
    cfg = report.get("config") or {}
    note = (
        f"{fmt_int(len(report['folds']))} folds, step {cfg.get('step_days', '?')} days; "
        f"label delay {report.get('label_delay_days', '?')} days; "
        f"{fmt_int(len(report.get('feature_names') or []))} features; "
        f"took {fmt_seconds(report.get('seconds'))}. Sample standard deviation over folds."
    )
    headers = ["model", "metric", "mean", "std", "folds"]
    return Section("Mean over folds", table(headers, rows, numeric=(2, 3, 4)), note)


def _ahead_class(mean: float | None) -> str:
    if mean is None or mean != mean or abs(mean) < 5e-5:  # shown as 0.0000 (4 decimals)
        return ""
    return "good" if mean > 0 else "bad"


def _differences(diffs) -> Section:
    rows = [
        [METRICS[d.metric], f"ensemble - {d.versus}", fmt_num(d.mean, 4),
         ", ".join(fmt_num(x, 4) for x in d.per_fold), f"{d.folds_ahead} of {len(d.per_fold)}"]
        for d in diffs
    ]  # fmt: skip
    # a tie is neither (it was red: "behind"); a missing mean (a metric undefined) neither
    classes = [_ahead_class(d.mean) for d in diffs]
    headers = ["metric", "difference", "mean", "per fold", "folds ahead"]
    return Section(
        "Ensemble against the baseline",
        table(headers, rows, numeric=(2,), row_classes=classes),
        "Positive: the ensemble is ahead. A single fold's figure is noisy when its test "
        "window holds few frauds.",
    )


def _per_fold(report: dict[str, Any]) -> Section:
    df = fold_metrics(report)
    names = list(METRICS)
    fig = subplots(rows=1, cols=len(names), subplot_titles=[METRICS[m] for m in names])
    for i, model in enumerate(df["model"].unique()):
        for j, metric in enumerate(names):
            part = df[(df["model"] == model) & (df["metric"] == metric)]
            fig.add_trace(
                go.Bar(x=[f"fold {k}" for k in part["fold"]], y=part["value"], name=model,
                       marker_color=COLORS[i % len(COLORS)], legendgroup=model,
                       showlegend=j == 0,
                       hovertemplate="%{fullData.name}<br>%{x}: %{y:.4f}<extra></extra>"),
                row=1, col=j + 1,
            )  # fmt: skip
    fig.update_layout(barmode="group")
    style(fig, "Per fold, each model", height=400, legend_gap_px=20)
    return Section("Metrics per fold", figure(fig, "metrics per fold and model"))


def _folds(report: dict[str, Any]) -> Section:
    rows = []
    for f in report["folds"]:
        w = f.get("windows") or {}
        covered = f.get("covered") if isinstance(f.get("covered"), dict) else {}
        rows.append([
            str(f["fold"]), *(_window_cell(w, covered.get(name), name) for name in WINDOWS),
            fmt_int(f.get("test_rows")), fmt_int(f.get("test_frauds")),
            ", ".join(str(i) for i in f.get("best_iterations") or []) or "-",
            "yes" if f.get("refit") else "no", fmt_seconds(f.get("seconds")),
        ])  # fmt: skip
    headers = ["fold", "train", "validation", "test", "test rows", "test frauds",
               "chosen iterations per member", "refit", "time"]  # fmt: skip
    return Section(
        "Fold windows",
        table(headers, rows, numeric=(4, 5, 8)),
        "Windows are [start, end) in UTC, as configured; each fold trains at its test start "
        "(the cut-off). In brackets: the days of the first and last row each window held "
        "(reports since session 49), fewer than configured where a window runs past the data.",
    )


def _leakage(report: dict[str, Any]) -> Section:
    rows, classes = [], []
    for r in leakage_rows(report):
        ok = r["ok"] is True
        rows.append([str(r["fold"]), str(r["cutoff"] or "-"), fmt_int(r["rows"]),
                     str(r["max_timestamp"] or "-"), str(r["max_fraud_label_known_at"] or "-"),
                     str(r["max_label_settled_at"] or "-"), "ok" if ok else "FAILED"])  # fmt: skip
        classes.append("good" if ok else "bad")
    failed = classes.count("bad")
    headers = ["fold", "cut-off", "rows trained on", "latest timestamp",
               "latest fraud label known at", "latest label settled at", "check"]  # fmt: skip
    title = "Leakage checks: all passed" if not failed else f"Leakage checks: {failed} FAILED"
    return Section(
        title,
        table(headers, rows, numeric=(2,), row_classes=classes),
        "From the rows each fold actually trained on: nothing may lie past its cut-off.",
    )


WINDOWS = ("train", "validation", "test")


def _window_cell(windows: dict[str, Any], held: Any, name: str) -> str:
    """A window as configured and, when the report says (`covered`), the data it held."""
    cell = _day(windows.get(f"{name}_start")) + " .. " + _day(windows.get(f"{name}_end"))
    if not isinstance(held, dict):
        return cell
    if not held.get("rows"):
        return f"{cell} (no data)"
    return f"{cell} (data {_day(held.get('first'))} .. {_day(held.get('last'))})"


def _day(iso: str | None) -> str:
    return "?" if not iso else str(iso)[:10]
