"""`score --model runs:/<id>/model` of a run that logged no model (an `evaluate` run, a
parent run) or a model under another name (session 49, probe49b): MLflow's words alone
were "Failed to download artifacts from path 'model', please ensure that the path is
correct". The error now names what the run holds. Real MLflow on sqlite."""

from __future__ import annotations

import mlflow
import pytest

from fraud_app.errors import ModelLoadError
from fraud_app.tracking.models import resolve_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_run_without_that_model_names_what_it_holds(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    _, tracker = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    with pytest.raises(ModelLoadError) as e:
        resolve_model(f"runs:/{tracker.run_id}/ensemble", config=cfg)
    text = str(e.value)
    assert f"cannot download model runs:/{tracker.run_id}/ensemble" in text
    assert f"run {tracker.run_id} holds no 'ensemble': its logged models: model;" in text
    assert "runs:/<that run's id>/model" in text

    client = mlflow.MlflowClient()
    empty = client.create_run(client.get_run(tracker.run_id).info.experiment_id).info.run_id
    with pytest.raises(ModelLoadError) as e:
        resolve_model(f"runs:/{empty}/model", config=cfg)
    assert f"run {empty} holds no 'model': its logged models: none; its artifacts: none" in str(
        e.value
    )


@pytest.mark.usefixtures("fresh_store")
def test_a_run_that_does_not_exist_keeps_mlflows_words(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    with pytest.raises(ModelLoadError, match=r"not found$"):
        resolve_model(f"runs:/{'0' * 32}/model", config=cfg)
