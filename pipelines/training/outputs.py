"""What a training run writes besides its model and its JSON report: the scored test
window (C5) and one evaluation report per window (C4).

Owns: those files' columns, names and contents. Does not own: the figures
(fraud_app.scoring.evaluate, fraud_app.evaluation) or the report
(pipelines.training.report).
"""

from __future__ import annotations

import datetime as dt

from fraud_app import jsonout
from fraud_app.evaluation.spark_train import ExecutorWindow
from fraud_app.scoring.evaluate import window_figures
from fraud_app.scoring.tasks import task_errors


def write_test_scores(scored_df, path: str) -> None:
    """C5: transaction_id, card_id, timestamp, label, fraud_score, member_XX, baseline_<name>."""
    keep = ["transaction_id", "card_id", "timestamp", "label", "fraud_score"]
    members = [c for c in scored_df.columns if c.startswith(("member_", "baseline_"))]
    cols = [c for c in keep if c in scored_df.columns] + members
    with task_errors():
        scored_df.select(*cols).write.mode("overwrite").parquet(path)


def write_window_evaluations(
    windows, config, run: str, model_path: str, splits, *, refit: bool
) -> dict[str, str]:
    """C4 JSON per window: <paths.reports>/evaluation-<run>-<window>.json. The validation
    window's figures are those of the ensemble early stopping selected, BEFORE the refit
    (`before_refit: true`): the saved model (model_uri) trained on that window, where
    `evaluate` gives it optimistic figures; they were written under its name alone (AP
    0.669 where `evaluate` of model_uri gave 0.819)."""
    out = {}
    for name, data in windows.items():
        w = next(x for x in splits.windows if x.name == name)
        last = (w.end - dt.timedelta(microseconds=1)).date()  # a noon end keeps its date
        report = {
            "model_uri": model_path,
            "before_refit": refit and name == "validation",
            "window": {"start": str(w.start.date()) if w.start else None, "end": str(last)},
            **(data.figures if isinstance(data, ExecutorWindow) else window_figures(data, config)),
        }
        path = config.paths.local("reports") / f"evaluation-{run}-{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        jsonout.write_atomic(path, jsonout.dumps(report, indent=2))
        out[name] = str(path)
    return out
