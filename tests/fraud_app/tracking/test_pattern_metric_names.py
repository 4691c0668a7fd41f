"""Fraud pattern names that MLflow refuses in a metric name (session 49, probe49b): the
evaluation's metrics go in one log_batch, so a pattern named `card testing (CNP)` or
`CNP+ATO` failed all of them: the run ended FAILED without its ROC AUC, one WARNING.
Now such characters become `_` and the name ends with a digest of the pattern (review49b:
the same pattern always has the same metric, whichever other patterns a window holds).
Real MLflow on sqlite."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import pytest
from mlflow.utils.validation import _validate_metric_name

from fraud_app.tracking import log_evaluation
from fraud_app.tracking.jobs import evaluation_metrics
from tests.fraud_app.tracking import helpers as h


def _digest(pattern: str) -> str:
    return hashlib.sha256(pattern.encode()).hexdigest()[:8]


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
    assert recall["recall_stolen_card"] == 1.0  # a name MLflow takes is kept as before
    assert recall[f"recall_card testing _CNP__{_digest('card testing (CNP)')}"] == 0.5
    assert recall[f"recall_CNP_ATO_{_digest('CNP+ATO')}"] == 0.25
    assert recall[f"recall_CNP_ATO_{_digest('CNP&ATO')}"] == 0.75


def test_the_unlabelled_rows_left_out_of_the_figures_are_a_metric():
    # session 54: an evaluation whose window was mostly unlabelled logged AP, recall and
    # precision of its labelled rows only, and nothing in its MLflow run said so
    assert evaluation_metrics({**REPORT, "unlabelled_rows": 360})["unlabelled_rows"] == 360.0
    assert evaluation_metrics({**REPORT, "unlabelled_rows": 0})["unlabelled_rows"] == 0.0
    assert "unlabelled_rows" not in evaluation_metrics(REPORT)  # a report written before it


def _recall_names(patterns: dict, budgets=()) -> dict[str, str]:
    report = {"alert_budgets": [{"budget": b, "recall": 0.5} for b in budgets],
              "pattern_recall": patterns}  # fmt: skip
    names = {k: v for k, v in evaluation_metrics(report).items() if k.startswith("recall_")}
    return {p: next(k for k, v in names.items() if v == r) for p, r in patterns.items()}


def test_a_pattern_has_the_same_metric_whichever_patterns_come_with_it():
    # review49b: `_2` went to whichever clashing pattern came second, so CNP+ATO was
    # recall_CNP_ATO in a window without CNP&ATO and recall_CNP_ATO_2 in one with it: two
    # evaluations' metrics of one pattern could not be compared in MLflow
    alone = _recall_names({"CNP+ATO": 0.25})
    both = _recall_names({"CNP&ATO": 0.75, "CNP+ATO": 0.25})
    reversed_ = _recall_names({"CNP+ATO": 0.25, "CNP&ATO": 0.75})
    assert alone["CNP+ATO"] == both["CNP+ATO"] == reversed_["CNP+ATO"]
    assert both["CNP&ATO"] == reversed_["CNP&ATO"] != both["CNP+ATO"]
    # a pattern named like a budget's metric: the same name with or without that budget,
    # and the budget's recall is not overwritten
    with_budget = _recall_names({"at_budget_0.01": 0.9}, budgets=(0.01,))
    assert with_budget == _recall_names({"at_budget_0.01": 0.9})
    assert with_budget["at_budget_0.01"] != "recall_at_budget_0.01"
    # a pattern named like another's digest name keeps both figures, whatever the order
    twin = f"CNP_ATO_{_digest('CNP+ATO')}"
    first = _recall_names({"CNP+ATO": 0.25, twin: 0.5})
    assert first == _recall_names({twin: 0.5, "CNP+ATO": 0.25})
    assert first == {"CNP+ATO": f"recall_{twin}", twin: f"recall_{twin}_2"}


@pytest.mark.parametrize("pattern", ["ATO/", "CNP//ATO", "a/../b", "a/./b", "x" * 260])
def test_names_mlflow_reads_as_another_path_or_too_long_are_made_safe(pattern):
    # review49b: `recall_ATO/` passed the character check but MLflow refuses a name that a
    # path would normalise to another one (and one over 250 characters): the whole log_batch
    (name,) = _recall_names({pattern: 0.5}).values()
    _validate_metric_name(name)
    assert len(name) <= 250 and name.endswith(_digest(pattern))
    assert _recall_names({"ATO/CNP": 0.5}) == {"ATO/CNP": "recall_ATO/CNP"}  # one path: kept


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
    assert (
        run.data.metrics["roc_auc"] == 0.97
        and run.data.metrics[f"recall_CNP_ATO_{_digest('CNP+ATO')}"] == 0.25
    )
