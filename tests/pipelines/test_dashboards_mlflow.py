"""Dashboard pages written after a training run land in that run's MLflow artifacts."""

from __future__ import annotations

import mlflow

from fraud_app.config import load_config
from pipelines.reporting import index_path, log_dashboards_safely


def test_pages_are_logged_under_dashboards_keeping_their_layout(tmp_path, fresh_store):
    config = load_config(None, {"paths.root": str(tmp_path)})
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    config = config.model_copy(update={"tracking": config.tracking.model_copy(update={"uri": uri})})
    root = index_path(config).parent
    (root / "run-1").mkdir(parents=True)
    pages = [root / "index.html", root / "run-1" / "training.html"]
    for p in pages:
        p.write_text("<html></html>")
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=str(tmp_path / "art"))
    run_id = client.create_run(exp).info.run_id

    log_dashboards_safely(config, run_id, pages)

    top = {f.path for f in client.list_artifacts(run_id, "dashboards")}
    assert top == {"dashboards/index.html", "dashboards/run-1"}
    assert [f.path for f in client.list_artifacts(run_id, "dashboards/run-1")] == [
        "dashboards/run-1/training.html"
    ]


def test_a_failure_to_log_never_raises(tmp_path):
    config = load_config(None, {"paths.root": str(tmp_path)})
    log_dashboards_safely(config, "no-such-run", [tmp_path / "missing.html"])
