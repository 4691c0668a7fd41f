"""`score --model runs:/<id>/model` of a run that logged no model (an `evaluate` run, a
parent run) or a model under another name (session 49, probe49b): MLflow's words alone
were "Failed to download artifacts from path 'model', please ensure that the path is
correct". The error now names what the run holds. Real MLflow on sqlite."""

from __future__ import annotations

import logging
import sqlite3

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


@pytest.mark.usefixtures("fresh_store")
def test_a_model_the_run_logs_but_this_host_cannot_read_is_not_called_absent(
    tmp_path, monkeypatch, capfd
):
    # review49b: MLflow swallows why a logged model's location failed (no credentials, no
    # boto3 for s3://, a network error) and says "Failed to download artifacts from path
    # 'model'"; probe49b's ending then said "holds no 'model': its logged models: model"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    _, tracker = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))
    with sqlite3.connect(tmp_path / "mlflow.db") as db:  # a location this host cannot read
        db.execute("update logged_models set artifact_location = 'foo://u:secret@bucket/m-1'")
    monkeypatch.setattr(logging.getLogger("mlflow"), "level", logging.DEBUG)  # as --log-level
    with pytest.raises(ModelLoadError) as e:
        resolve_model(f"runs:/{tracker.run_id}/model", config=cfg)
    text = str(e.value)
    assert "holds no" not in text and "secret" not in text
    assert f"run {tracker.run_id} does log the model 'model' stored at foo://***@bucket/m-1" in text
    assert "--log-level DEBUG shows its reason" in text
    err = capfd.readouterr().err  # MLflow's DEBUG line names the failure, redacted
    assert "foo://***@bucket/m-1" in err and "secret" not in err


def test_a_server_that_does_not_answer_is_not_asked_what_the_run_holds(monkeypatch, tmp_path):
    """review49b: after a download that ran out of time, the error's "what the run holds"
    asked the same server three more questions, each waiting the deadline again, and the
    look-up of the recorded location (which swallowed its error) was followed by the
    download asking the same again. A server that answers each request with a trickle:
    one request, not three."""
    from fraud_app.tracking import http_deadline
    from tests.fraud_app.tracking.test_trickling_server import TricklingServer

    server = TricklingServer("body")
    # set_tracking_uri also sets MLFLOW_TRACKING_URI: put back at the end by monkeypatch
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    try:
        mlflow.set_tracking_uri(f"http://127.0.0.1:{server.port}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        http_deadline.install(http_deadline.Deadline(f"http://127.0.0.1:{server.port}", 1.0, "t"))
        with pytest.raises(ModelLoadError, match=r"cannot download model runs:/0a1b/model: ") as e:
            resolve_model("runs:/0a1b/model")
    finally:
        server.close()  # the URI itself: tests/conftest.py's cli_globals_restored
    assert "holds no" not in str(e.value)
    assert len(server.requests) == 1, server.requests
