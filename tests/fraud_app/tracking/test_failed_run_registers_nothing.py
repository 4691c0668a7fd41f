"""A training run that fails after its model is logged registers nothing and moves no alias
(real MLflow on sqlite in tmp, the pipeline's own calls). `train` queued the registration
and the champion move on the tracking thread next to the test window's scoring; when that
scoring failed (features infinite in float32 in the test window only), the run exited 2 as
FAILED, and the flush of its tracker still ran the queued registration: the failed run's
model was `champion`, the model every `score` then loads."""

from __future__ import annotations

import mlflow
import pytest

from fraud_app.models.train import evaluate_scores
from fraud_app.tracking.runs import start_training_run
from pipelines.training import gate, lifecycle
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


class WindowFailed(RuntimeError):
    """Stands for a step between the model's logging and its registration that fails."""


def _start(cfg, tmp_path, tracker, ensemble, run: str, rows):
    X, y = rows
    new_ap = evaluate_scores(y, ensemble.predict_proba(X))["average_precision"]
    ctx = gate.GateContext(cfg, h.NAMES, h.splits(None), new_ap, "features", rows=rows)
    pending = lifecycle.start_model_logging(tracker, ensemble.save(tmp_path / "models" / run), ctx)
    return pending, new_ap


def _versions(cfg):
    client = mlflow.MlflowClient(f"sqlite:///{cfg.paths.root}/mlflow.db")
    return client.search_model_versions(f"name = '{cfg.registry.model_name}'")


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_run_that_fails_before_its_registration_registers_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    rows = h.rows(400, seed=3)
    # a champion first, then a better model whose run fails after its logging was queued
    first, _ = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "champ", rows)
    assert first["decision"] == "champion" and first["version"] == "1"
    with pytest.raises(WindowFailed), start_training_run(cfg, "failed") as tracker:
        _start(cfg, tmp_path, tracker, h.linear_ensemble(2.0), "failed", rows)
        raise WindowFailed("the test window's scoring failed")
    assert [str(v.version) for v in _versions(cfg)] == ["1"]
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert (
        str(client.get_model_version_by_alias(cfg.registry.model_name, "champion").version) == "1"
    )
    assert client.get_run(tracker.run_id).info.status == "FAILED"

    # the same steps without the failure register the model and move the alias
    with start_training_run(cfg, "ok") as tracker:
        pending, _ = _start(cfg, tmp_path, tracker, h.linear_ensemble(2.0), "ok", rows)
        out = lifecycle.register_and_gate(tracker, pending)
    assert out["decision"] == "champion" and out["version"] == "2", out
    assert sorted(str(v.version) for v in _versions(cfg)) == ["1", "2"]
