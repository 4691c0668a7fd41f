"""The lines `fraud-app run` / `train` end with: figures a window cannot have are said so."""

from __future__ import annotations

from fraud_app.config import load_config
from pipelines.commands.run import _print_lifecycle


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
    out = capsys.readouterr().out
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
