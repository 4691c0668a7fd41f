"""`evaluate` and `score` reports reach MLflow: one run each, on a real sqlite store (no
Spark: the logging takes the saved report). The jobs' own Spark runs are covered in
tests/fraud_app/scoring/test_job_scores.py and test_evaluate_window.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlflow
import pytest

from fraud_app.tracking import log_evaluation, log_scoring_job
from fraud_app.tracking.jobs import evaluation_metrics, scoring_metrics
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration

EVALUATION = {
    "model_uri": "models:/fraud-ensemble@champion", "model_name": "fraud-ensemble",
    "model_version": "3", "window": {"start": "2024-02-01", "end": "2024-02-03"},
    "rows": 900, "frauds": 12, "days": 3, "roc_auc": 0.97, "average_precision": 0.61,
    "alert_budgets": [
        {"budget": 0.001, "alerts": 3, "alerts_per_day": 1.0, "threshold": 0.9,
         "precision": 1.0, "recall": 0.25},
        {"budget": 0.01, "alerts": 9, "alerts_per_day": 3.0, "threshold": 0.5,
         "precision": None, "recall": 0.5},
    ],
    "card_precision_at_k": {"k": 100, "per_day": [], "mean": 0.04},
    "pattern_recall": {"card_testing": 0.75, "stolen_card": None},
    "pattern_recall_budget": 0.01,
}  # fmt: skip
SUMMARY = {
    "job_id": "20240204T010203-abc123", "model_uri": "models:/fraud-ensemble@champion",
    "model_name": "fraud-ensemble", "model_version": "3", "threshold": 0.42,
    "alert_budget": 0.01, "output": "/data/scores", "seconds": 12.5,
    "dates": [  # not in date order: the per-date series are
        {"date": "2024-02-03", "rows": 300, "alerts": 4, "mean_score": 0.02},
        {"date": "2024-02-02", "rows": 200, "alerts": 1, "mean_score": 0.01},
    ],
    "reference": {}, "feature_names": ["a", "b"],
}  # fmt: skip


def _write(tmp_path, name, report):
    path = tmp_path / "reports" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_an_evaluation_is_one_run_with_its_figures_and_report(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    path = _write(tmp_path, "evaluation-t", EVALUATION)
    run_id = log_evaluation(EVALUATION, path, cfg)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "evaluation-t"
    assert run.data.tags["fraud_app.kind"] == "evaluation"
    assert run.data.tags["fraud_app.model_version"] == "3"
    assert run.data.params["model_uri"] == "models:/fraud-ensemble@champion"
    assert run.data.params["window_start"] == "2024-02-01"
    m = run.data.metrics
    assert m["roc_auc"] == 0.97 and m["average_precision"] == 0.61 and m["rows"] == 900
    assert m["recall_at_budget_0.001"] == 0.25 and m["recall_at_budget_0.01"] == 0.5
    assert m["card_precision_at_100_mean"] == 0.04 and m["recall_card_testing"] == 0.75
    assert "precision_at_budget_0.01" not in m and "recall_stolen_card" not in m  # undefined
    [artifact] = client.list_artifacts(run_id, "evaluation")
    local = client.download_artifacts(run_id, artifact.path, str(tmp_path / "dl"))
    assert json.loads(Path(local).read_text()) == EVALUATION


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_scoring_job_is_one_run_with_totals_and_per_date_series(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    path = _write(tmp_path, f"scoring-{SUMMARY['job_id']}", SUMMARY)
    run_id = log_scoring_job(SUMMARY, path, cfg)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.run_name == f"scoring-{SUMMARY['job_id']}"
    assert run.data.tags["fraud_app.kind"] == "scoring"
    p = run.data.params
    assert (p["start"], p["end"], p["dates"], p["threshold"]) == (
        "2024-02-02",
        "2024-02-03",
        "2",
        "0.42",
    )
    m = run.data.metrics
    assert (m["rows"], m["alerts"], m["alert_rate"]) == (500, 5, 0.01)
    history = client.get_metric_history(run_id, "date_rows")
    assert [(x.step, x.value) for x in sorted(history, key=lambda x: x.step)] == [
        (0, 200),
        (1, 300),
    ]
    [artifact] = client.list_artifacts(run_id, "scoring")
    assert artifact.path == f"scoring/scoring-{SUMMARY['job_id']}.json"


def test_tracking_off_logs_nothing_and_creates_no_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path, **{"tracking.enabled": False})
    path = _write(tmp_path, "evaluation-t", EVALUATION)
    assert log_evaluation(EVALUATION, path, cfg) is None
    assert log_scoring_job(SUMMARY, path, cfg) is None
    assert not (tmp_path / "mlflow.db").exists()


def test_an_unreachable_store_is_a_warning_naming_the_saved_report(tmp_path, monkeypatch, caplog):
    """The job's output is written when it logs: the MLflow copy is lost, not the job."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(
        tmp_path, **{"tracking.uri": "http://127.0.0.1:9", "tracking.connect_timeout_s": 2}
    )
    path = _write(tmp_path, f"scoring-{SUMMARY['job_id']}", SUMMARY)
    with caplog.at_level(logging.WARNING, logger="fraud_app.tracking.jobs"):
        assert log_scoring_job(SUMMARY, path, cfg) is None
    [record] = [r for r in caplog.records if r.name == "fraud_app.tracking.jobs"]
    assert "not logged to MLflow" in record.getMessage() and str(path) in record.getMessage()


def test_metric_names_are_flat_and_finite():
    assert evaluation_metrics({"roc_auc": float("nan"), "rows": 5}) == {"rows": 5.0}
    totals, steps = scoring_metrics({"dates": [], "seconds": 1.0})
    assert totals == {"rows": 0.0, "alerts": 0.0, "seconds": 1.0}
    assert steps == {"date_rows": [], "date_alerts": [], "date_mean_score": []}


def test_a_scoring_run_counts_the_rows_of_earlier_dates_left_unscored():
    # session 36: late rows of a date scored earlier have no score; the job's MLflow run
    # carries their count, a metric a monitor can alert on (0 when every row is scored)
    late = {
        "2024-01-26": {"canonical_rows": 350, "scored_rows": 345, "unscored_rows": 5},
        "2024-01-27": {"canonical_rows": 200, "scored_rows": 198, "unscored_rows": 2},
    }
    totals, _ = scoring_metrics({"dates": [], "seconds": 1.0, "unscored_dates": late})
    assert totals["unscored_rows"] == 7.0
    totals, _ = scoring_metrics({"dates": [], "seconds": 1.0, "unscored_dates": {}})
    assert totals["unscored_rows"] == 0.0


@pytest.mark.usefixtures("fresh_store")
def test_a_scoring_run_s_params_hold_no_credentials(tmp_path, monkeypatch):
    """The scoring job's params include its output URI (session 23 probes)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    summary = {**SUMMARY, "output": "s3a://AKIA:JOBSECRET@bucket/scores?token=JOBTOKEN"}
    run_id = log_scoring_job(summary, _write(tmp_path, "scoring-s", summary), cfg)
    params = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id).data.params
    assert params["output"] == "s3a://***@bucket/scores?token=***"
    assert params["model_uri"] == "models:/fraud-ensemble@champion"  # the rest as it was


@pytest.mark.usefixtures("fresh_store")
def test_a_scoring_run_names_its_window_scored_at_and_the_data_it_read(tmp_path, monkeypatch):
    """The run of a job links to its rows (`scored_at`, their exact value) and to the data
    read (path, files, digest); `window_*` is the range asked for, `start` / `end` the
    dates with rows. Was: neither."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    summary = {
        **SUMMARY, "window": {"start": "2024-02-01", "end": "2024-02-04"},
        "scored_at": "2024-02-05T01:02:03",
        "features_source": {"source": "feature_table", "path": "/data/features",
                            "why_computed": None, "data_files": {
                                "first_date": "2024-02-01", "last_date": "2024-02-04",
                                "files": 2, "bytes": 1234, "digest": "0123456789abcdef"}},
    }  # fmt: skip
    run_id = log_scoring_job(summary, _write(tmp_path, "scoring-w", summary), h.config(tmp_path))
    p = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id).data.params
    assert (p["window_start"], p["window_end"], p["start"], p["end"]) == (
        "2024-02-01", "2024-02-04", "2024-02-02", "2024-02-03")  # fmt: skip
    assert p["scored_at"] == "2024-02-05T01:02:03"
    assert (p["features_source"], p["source_path"], p["source_files"], p["source_digest"]) == (
        "feature_table", "/data/features", "2", "0123456789abcdef")  # fmt: skip
