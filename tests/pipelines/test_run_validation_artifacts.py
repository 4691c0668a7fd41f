"""A training run logs the newest validation report of each table (JSON + HTML) to its
MLflow run under `validation/`. It globbed `*_validation.*`, which matches none of the
names `validate` writes since its reports are kept per run (`<suite>_validation-<run>.json`),
so no run logged any (found by helper feat32c listing what a daily run adds). Real MLflow on
sqlite, no Spark."""

from __future__ import annotations

import os
import time

import mlflow
import pytest

from fraud_app.tracking.runs import start_training_run
from pipelines.training.lifecycle import log_run_artifacts
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


def test_the_newest_validation_report_of_each_table_is_logged(tmp_path, fresh_store, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reports = tmp_path / "reports"
    reports.mkdir()
    now = time.time()
    for i, (name, age) in enumerate(
        [("canonical_validation-20240101T000000Z", 300), ("canonical_validation-20240102T000000Z", 200),
         ("features_validation-20240102T000000Z", 100), ("canonical_validation-old", 400)]
    ):  # fmt: skip
        for ext in ("json", "html"):
            path = reports / f"{name}.{ext}"
            path.write_text(f'{{"i": {i}}}')
            os.utime(path, (now - age, now - age))
    report = reports / "training-r1.json"
    report.write_text("{}")
    config = h.config(tmp_path, **{"tracking.uri": f"sqlite:///{fresh_store}"})
    with start_training_run(config, "r1") as tracker:
        log_run_artifacts(tracker, config, ["f0", "f1"], report)
    client = mlflow.MlflowClient(config.tracking.uri)
    logged = sorted(a.path for a in client.list_artifacts(tracker.run_id, "validation"))
    assert logged == [
        "validation/canonical_validation-20240102T000000Z.html",
        "validation/canonical_validation-20240102T000000Z.json",
        "validation/features_validation-20240102T000000Z.html",
        "validation/features_validation-20240102T000000Z.json",
    ]  # was [] (the glob matched none)
