"""The name and version that `score` writes on each row and `evaluate` in its report (and
the MLflow run's tags) for a logged model outside the registry: `runs:/<id>/model` was
named after the download's directory, so every run's model was `ensemble` version `local`
(two runs' scores labelled alike), and `models:/m-<id>` (the `model_uri` of a training
run's registry.json) read as version `latest`. Real MLflow on sqlite; the gates score
collected rows (helpers.gate_on_rows), no Spark (session 50)."""

from __future__ import annotations

import mlflow
import pytest

from fraud_app.scoring.model_source import load_scoring_model
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_logged_models_are_named_by_their_uri_not_their_download(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    validation = h.rows(200, seed=3)
    first, t1 = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r1", validation)
    _, t2 = h.gate_on_rows(cfg, tmp_path / "b", h.linear_ensemble(2.0), "r2", validation)

    uris = (f"runs:/{t1.run_id}/model", f"runs:/{t2.run_id}/model", first["model_uri"])
    assert first["model_uri"].startswith("models:/m-")

    def named():
        return {uri: (m.name, m.version) for uri in uris if (m := load_scoring_model(uri, cfg))}

    # registered (the gate registered both): the version, whichever URI named the model;
    # the registry.json's models:/m-<id> was `unregistered`, v1 as models:/fraud-ensemble/1
    # (review50a)
    assert named() == dict(zip(uris, [("fraud-ensemble", "1"), ("fraud-ensemble", "2"),
                                      ("fraud-ensemble", "1")], strict=True))  # fmt: skip
    # a logged model no registered version holds: named by its URI, `unregistered`
    mlflow.MlflowClient().delete_model_version("fraud-ensemble", "1")
    assert named() == {uris[0]: (uris[0], "unregistered"), uris[1]: ("fraud-ensemble", "2"),
                       uris[2]: (uris[2], "unregistered")}  # fmt: skip
    # a registered version and a local directory are named as before
    registered = load_scoring_model("models:/fraud-ensemble@champion", cfg)
    assert (registered.name, registered.version) == ("fraud-ensemble", "2")
    local = load_scoring_model(str(tmp_path / "models" / "r1"), cfg)
    assert (local.name, local.version) == ("r1", "local")
