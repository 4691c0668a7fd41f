"""The figures a training run reports, against the one definition of each (session 27
probe, a 15k-row generated project): `run` ended with "recall at a 1% alert budget 52.4%",
the top 1 % of the whole test window, while evaluation-<run>-test.json (and `evaluate`,
`backtest`, the dashboards) said 38.1 % at the daily 1 % budget; the validation window's
evaluation file gave the figures of the ensemble before the refit under the saved model's
name (AP 0.669; `evaluate` of that model there: 0.819); and a window ending at noon (a
fractional label delay) was written as ending the day before."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from fraud_app.config import load_config
from fraud_app.features.splits import TimeWindow
from fraud_app.scoring.evaluate import window_figures
from pipelines.commands.run import _summary
from pipelines.training.nodes import evaluate_arrays
from pipelines.training.outputs import write_window_evaluations


def _window() -> dict[str, np.ndarray]:
    """Two days of 100 rows: day 1's two best scores are frauds; day 2's best is a normal,
    its fraud scores low. The top 2 of the window (1 %) catch 2 of 3 frauds, the daily 1 %
    budget (one alert a day) 1 of 3."""
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.0, 0.5, 200)
    labels = np.zeros(200)
    labels[[0, 1, 150]] = 1
    scores[[0, 1]] = [0.99, 0.98]
    scores[160] = 0.9  # day 2's best: a normal
    days = np.array(["2024-02-25"] * 100 + ["2024-02-26"] * 100, dtype="datetime64[D]")
    return {"label": labels, "fraud_score": scores, "event_date": days}


def test_the_run_line_gives_the_daily_budget_recall_evaluate_reports(tmp_path):
    data = _window()
    config = load_config(None, {"paths.root": str(tmp_path)})
    daily = next(b for b in window_figures(data, config)["alert_budgets"] if b["budget"] == 0.01)
    metrics = evaluate_arrays(data, config.scoring.alert_budget)
    assert metrics["recall_at_alert_0.01"] == 2 / 3  # the window's top 2: another figure
    assert metrics["recall_at_budget"] == daily["recall"] == 1 / 3
    line = _summary(metrics, 12.0, "/m", config.scoring.alert_budget)
    assert (
        "recall at the daily alert budget (1% of each day's transactions) 33.3% (2 alerts). "
        in line
    )
    no_frauds = {**data, "label": np.zeros(200)}
    line = _summary(evaluate_arrays(no_frauds, 0.01), 1.0, "/m", 0.01)
    assert "transactions) undefined (no fraud in the window)" in line


def test_window_evaluation_files_name_the_model_and_the_last_date(tmp_path):
    data = _window()
    config = load_config(None, {"paths.root": str(tmp_path)})
    utc = dt.UTC
    windows = (
        TimeWindow("train", None, dt.datetime(2024, 2, 20, tzinfo=utc)),
        TimeWindow("validation", dt.datetime(2024, 2, 20, tzinfo=utc),
                   dt.datetime(2024, 2, 24, 12, tzinfo=utc)),  # a 2.5-day gap: noon
        TimeWindow("test", dt.datetime(2024, 2, 25, tzinfo=utc),
                   dt.datetime(2024, 2, 27, tzinfo=utc)),
    )  # fmt: skip
    splits = SimpleNamespace(windows=windows)
    paths = write_window_evaluations({"validation": data, "test": data}, config, "r1", "/m",
                                      splits, refit=True)  # fmt: skip
    validation = json.loads(Path(paths["validation"]).read_text())
    test = json.loads(Path(paths["test"]).read_text())
    assert (validation["before_refit"], test["before_refit"]) == (True, False)
    assert validation["window"] == {"start": "2024-02-20", "end": "2024-02-24"}  # was 02-23
    assert test["window"] == {"start": "2024-02-25", "end": "2024-02-26"}
    paths = write_window_evaluations({"validation": data}, config, "r2", "/m", splits,
                                      refit=False)  # fmt: skip
    assert json.loads(Path(paths["validation"]).read_text())["before_refit"] is False
