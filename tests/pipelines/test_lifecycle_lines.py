"""The lines `fraud-app run` / `train` end with: figures a window cannot have are said so."""

from __future__ import annotations

from fraud_app.config import load_config
from pipelines.commands.run import _print_lifecycle, _summary


def test_undefined_figures_are_named_not_printed_as_nan(tmp_path, capsys):
    # a validation or test window without frauds: AP and ROC AUC are NaN in memory (null in
    # the JSON); the lines printed `nan`, and a None (as JSON gives it back) was a TypeError
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False})
    train = {
        "registry": {"name": "m", "version": "2", "decision": "challenger", "new_ap": float("nan"),
                     "champion_ap": 0.5, "champion_version": "1", "margin": 0.0},
        "baselines": {"gbt": {"test": {"average_precision": None, "roc_auc": float("nan")}},
                      "logreg": {"test": {"average_precision": 0.25, "roc_auc": 0.75}}},
    }  # fmt: skip
    _print_lifecycle(train, config)
    out = capsys.readouterr().err  # stderr: stdout carries the JSON result only
    assert "nan" not in out.lower().replace("undefined", "")
    assert (
        "registered m v2 -> challenger (validation AP undefined (no fraud in the window) vs "
        "champion v1 0.5000; margin 0)" in out
    )
    assert (
        "baseline gbt: test AP undefined (no fraud in the window), ROC AUC undefined (no fraud "
        "in the window)" in out
    )
    assert "baseline logreg: test AP 0.2500, ROC AUC 0.7500" in out


def test_the_run_summary_of_a_test_window_without_frauds_says_so():
    # frauds only early in the data: the test window holds none, and `run` ended with
    # "ROC AUC nan, average precision nan, recall at a 1% alert budget nan%"
    test = {"rows": 1735, "frauds": 0, "roc_auc": float("nan"), "average_precision": None,
            "recall_at_budget": float("nan")}  # fmt: skip
    line = _summary(test, 343.2, "/m")
    assert line == (
        "fraud-app: trained an ensemble in 343s; test window (1,735 transactions, 0 frauds): "
        "ROC AUC undefined (no fraud in the window), average precision undefined (no fraud in "
        "the window), recall at the daily alert budget (1% of each day's transactions) "
        "undefined (no fraud in the window). Model: /m"
    )
    test = {"rows": 10, "frauds": 2, "roc_auc": 0.9, "average_precision": 0.5,
            "recall_at_budget": 0.5}  # fmt: skip
    assert (
        "ROC AUC 0.9000, average precision 0.5000, recall at the daily alert budget (0.5% "
        "of each day's transactions) 50.0%" in _summary(test, 1, "/m", 0.005)
    )
