"""Alert counts beside the training report's recalls (session 50, left50a): ties at a
cut-off score are all alerted (README "Ranking figures"), so a model of few distinct scores
(the GBT baseline) had its `recall_at_budget` / `recall_at_alert_X` counted over more alerts
than the budget allows, with no count in the report, no word from `train`, and no quota in
`evaluate`'s MLflow metrics. No Spark: the collected figures (the executors' equal them:
tests/fraud_app/evaluation/test_tie_edges.py) and the warning on their dicts."""

from __future__ import annotations

import logging

import numpy as np
from mlflow.utils.validation import _validate_metric_name

from dlcore.daily_ranking import alerts_for
from fraud_app.tracking.jobs import evaluation_metrics
from pipelines.commands.run import _summary
from pipelines.training.nodes import evaluate_arrays
from pipelines.training.report import ties_over_quota, warn_ties_over_quota


def _gbt_like() -> dict[str, np.ndarray]:
    """Two days of 150 rows; scores of 3 distinct values (a shallow GBT's leaves): the 10
    best rows of each day share 0.9, so a 1% daily budget (2 a day) alerts 10 a day, and the
    window's top 1% (3 rows) alerts all 20 rows at 0.9."""
    scores = np.full(300, 0.1)
    scores[:10] = scores[150:160] = 0.9
    scores[10:60] = 0.5
    labels = np.zeros(300)
    labels[[0, 1, 150, 200]] = 1
    days = np.array(["2024-02-25"] * 150 + ["2024-02-26"] * 150, dtype="datetime64[D]")
    return {"label": labels, "fraud_score": scores, "event_date": days}


def _brute(data, budget):
    alerts = 0
    for day in np.unique(data["event_date"]):
        s = data["fraud_score"][data["event_date"] == day]
        cut = np.sort(s)[::-1][alerts_for(budget, s.size) - 1]
        alerts += int((s >= cut).sum())
    return alerts


def test_the_training_figures_count_their_alerts_beside_the_quota():
    data = _gbt_like()
    m = evaluate_arrays(data, 0.01)
    assert (m["alerts_at_budget"], m["alert_quota"]) == (_brute(data, 0.01), 4) == (20, 4)
    assert m["recall_at_budget"] == 3 / 4  # frauds among 20 alerts, not 4
    assert (m["alerts_at_alert_0.01"], m["quota_at_alert_0.01"]) == (20, 3)
    assert (m["alerts_at_alert_0.001"], m["quota_at_alert_0.001"]) == (20, 1)
    distinct = {**data, "fraud_score": np.linspace(1.0, 0.0, 300)}
    d = evaluate_arrays(distinct, 0.01)
    assert (d["alerts_at_budget"], d["alert_quota"], d["alerts_at_alert_0.01"]) == (4, 4, 3)
    assert ties_over_quota(d) == []
    assert ties_over_quota(m) == [
        ("recall_at_alert_0.001", 20, 1), ("recall_at_alert_0.01", 20, 3),
        ("recall_at_budget", 20, 4),
    ]  # fmt: skip


def test_train_warns_once_per_model_over_its_quota(caplog):
    tied, exact = (
        evaluate_arrays(_gbt_like(), 0.01),
        evaluate_arrays({**_gbt_like(), "fraud_score": np.linspace(1.0, 0.0, 300)}, 0.01),
    )
    models = {
        "ensemble": {"validation": exact, "test": exact},
        "gbt": {"validation": tied, "test": tied, "rows": 9, "seconds": 1.0},
        "old": {"validation": {"recall_at_budget": 0.5}, "test": {}},  # a report without counts
    }
    with caplog.at_level(logging.WARNING, logger="pipelines.training.report"):
        warn_ties_over_quota(models, "r1")
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and warned[0].startswith("train r1: gbt: "), warned
    assert "recall_at_budget on the test window counts 20 alerts where the budget allows 4 " \
           "(+400.0%)" in warned[0]  # fmt: skip
    assert warned[0].count("window counts") == 6  # 3 figures x 2 windows, one line


def test_the_run_line_counts_the_alerts_of_its_recall():
    data = _gbt_like()
    line = _summary(evaluate_arrays(data, 0.01), 1.0, "/m", 0.01)
    assert (
        "transactions) 75.0% (20 alerts where the budget allows 4: rows tied at a day's "
        "cut-off score are all in). Model" in line
    )
    exact = evaluate_arrays({**data, "fraud_score": np.linspace(1.0, 0.0, 300)}, 0.01)
    assert "transactions) 75.0% (4 alerts). Model" in _summary(exact, 1.0, "/m", 0.01)
    old = {k: v for k, v in exact.items() if k not in ("alerts_at_budget", "alert_quota")}
    assert "transactions) 75.0%. Model" in _summary(old, 1.0, "/m", 0.01)


def test_evaluate_logs_each_budgets_quota_beside_its_alerts():
    report = {
        "rows": 300, "frauds": 4, "days": 2,
        "alert_budgets": [
            {"budget": 0.01, "alerts": 20, "quota": 4, "alerts_per_day": 10.0, "recall": 0.75,
             "precision": 0.15},
            {"budget": 0.005, "alerts": 2, "quota": 2, "alerts_per_day": 1.0, "recall": 0.5,
             "precision": 1.0},
        ],
    }  # fmt: skip
    m = evaluation_metrics(report)
    assert (m["alerts_at_budget_0.01"], m["quota_at_budget_0.01"]) == (20.0, 4.0)
    assert (m["alerts_at_budget_0.005"], m["quota_at_budget_0.005"]) == (2.0, 2.0)
    for key in m:
        _validate_metric_name(key)
