"""Fraud pattern names that MLflow refuses in a metric name (session 49, probe49b): the
evaluation's metrics go in one log_batch, so a pattern named `card testing (CNP)` or
`CNP+ATO` failed all of them: the run ended FAILED without its ROC AUC, one WARNING.
Now such characters become `_` (and a name two patterns share gets `_2`). Real MLflow on
sqlite."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow.utils.validation import _validate_metric_name

from fraud_app.tracking import log_evaluation
from fraud_app.tracking.jobs import evaluation_metrics
from tests.fraud_app.tracking import helpers as h

PATTERNS = {"card testing (CNP)": 0.5, "CNP+ATO": 0.25, "CNP&ATO": 0.75, "stolen_card": 1.0}
REPORT = {
    "model_uri": "models:/fraud-ensemble@champion", "window": {"start": "2024-02-01",
    "end": "2024-02-03"}, "rows": 900, "frauds": 12, "days": 3, "roc_auc": 0.97,
    "average_precision": 0.61, "alert_budgets": [], "pattern_recall": PATTERNS,
    "pattern_recall_budget": 0.01,
}  # fmt: skip


def test_every_pattern_gets_a_metric_mlflow_takes():
    metrics = evaluation_metrics(REPORT)
    recall = {k: v for k, v in metrics.items() if k.startswith("recall_")}
    for key in recall:
        _validate_metric_name(key)  # MLflow's own check: raises on a name it refuses
    assert sorted(recall.values()) == sorted(PATTERNS.values())  # none lost to a clash
    assert recall["recall_stolen_card"] == 1.0 and recall["recall_card testing _CNP_"] == 0.5
    assert {recall["recall_CNP_ATO"], recall["recall_CNP_ATO_2"]} == {0.25, 0.75}


@pytest.mark.integration
@pytest.mark.usefixtures("fresh_store")
def test_an_evaluation_with_such_patterns_is_logged_with_its_figures(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    path = tmp_path / "reports" / "evaluation-t.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(REPORT))
    run_id = log_evaluation(REPORT, Path(path), cfg)
    assert run_id is not None
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["roc_auc"] == 0.97 and run.data.metrics["recall_CNP_ATO"] == 0.25
