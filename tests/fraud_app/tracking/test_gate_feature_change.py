"""The promotion gate across model generations whose feature specs differ, and with a
champion that no longer loads. Real MLflow on sqlite; real Spark for the window the gate
scores with a Spark job.

Before: a champion reading a feature the new table lacks was "not compared: the champion
uses other feature names" (which ones, not said); one whose features the new table all
holds (a spec file added since) was not compared either; and a champion whose artifacts
were deleted failed the run after training (`tracking: gate failed: ...`), registering
nothing."""

from __future__ import annotations

import shutil

import mlflow
import numpy as np
import pytest

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.models.train import evaluate_scores
from fraud_app.tracking.runs import start_training_run
from pipelines.training import gate, lifecycle
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration
NAME = "fraud-ensemble"


def _ensemble(names, weight0=2.0, metadata=None) -> FraudEnsemble:
    """Members score weight0 * (first feature) + a little of the second."""
    members = []
    for k in range(2):
        m = Model(Sequential([Linear(1)]), in_features=len(names), seed=k)
        w = np.zeros(len(names) + 1, dtype=np.float32)
        w[0], w[1] = weight0, 0.1 * (k + 1)
        m.params.set_data(w)
        members.append(m)
    return FraudEnsemble(members, list(names), metadata or {"test": True})


def _gate(cfg, tmp_path, ensemble, run, rows, validation_df=None):
    """`ensemble` (reading every column of `rows`) through the gate, as `train` runs it:
    on the collected rows, or (validation_df) with a Spark job."""
    model_dir = ensemble.save(tmp_path / "models" / run)
    new_ap = evaluate_scores(rows[1], ensemble.predict_proba(rows[0]))["average_precision"]
    with start_training_run(cfg, run) as tracker:
        ctx = gate.GateContext(
            cfg, ensemble.feature_names, h.splits(validation_df), new_ap, "features",
            rows=None if validation_df is not None else rows,
        )  # fmt: skip
        return lifecycle.register_and_gate(
            tracker, lifecycle.start_model_logging(tracker, model_dir, ctx)
        )


def _tags(version: str) -> dict[str, str]:
    return mlflow.MlflowClient().get_model_version(NAME, version).tags


@pytest.mark.usefixtures("fresh_store")
def test_a_champion_reading_a_removed_feature_is_named(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    rows = h.rows(200, seed=3)
    _gate(cfg, tmp_path, _ensemble(["f0", "f1", "f2", "old_feature"]), "r1", rows)
    out = _gate(cfg, tmp_path, _ensemble(h.NAMES), "r2", rows)
    assert (out["decision"], out["version"], out["champion_version"]) == ("challenger", "2", "1")
    reason = out["reason"]
    assert "champion v1 reads 1 feature(s) this run's feature table lacks: ['old_feature']" in (
        reason
    )
    assert "this run's table has 1 it does not read: ['f3']" in reason
    assert "cannot be scored on this validation window" in reason and "the champion stays" in reason
    assert _tags("2")["gate.reason"] == reason
    assert any("promotion gate: not compared" in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("fresh_store")
def test_a_feature_added_since_the_champion_is_compared_on_its_own_columns(tmp_path, monkeypatch):
    """The new table holds every feature the champion reads and one more: the champion is
    scored on its own columns of the new window (it was not compared)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    rows = h.rows(200, seed=3)
    three = (rows[0][:, :3], rows[1])
    _gate(cfg, tmp_path, _ensemble(["f0", "f1", "f2"], weight0=-2.0), "r1", three)  # poor
    out = _gate(cfg, tmp_path, _ensemble(h.NAMES), "r2", rows)
    champion = _ensemble(["f0", "f1", "f2"], weight0=-2.0)
    expected = evaluate_scores(three[1], champion.predict_proba(three[0]))["average_precision"]
    assert out["champion_ap"] == pytest.approx(expected, abs=1e-12)
    assert (out["decision"], out["version"]) == ("champion", "2")
    assert "(champion v1 scored on its own 3 features; this run added 1: ['f3'])" in out["reason"]


@pytest.mark.spark
@pytest.mark.usefixtures("fresh_store")
def test_the_spark_gate_scores_the_champion_on_its_own_columns(spark, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    rows = h.rows(200, seed=3)
    three = (rows[0][:, 1:], rows[1])  # f1..f3: the champion reads the table's last three
    names = ["f1", "f2", "f3"]
    _gate(cfg, tmp_path, _ensemble(names, weight0=0.5), "r1", three)
    out = _gate(cfg, tmp_path, _ensemble(h.NAMES), "r2", rows, h.frame(spark, *rows))
    champion = _ensemble(names, weight0=0.5)
    expected = evaluate_scores(three[1], champion.predict_proba(three[0]))["average_precision"]
    assert out["champion_ap"] == pytest.approx(expected, abs=1e-6)
    assert "scored on its own 3 features; this run added 1: ['f0']" in out["reason"]


@pytest.mark.usefixtures("fresh_store")
def test_a_feature_whose_definition_changed_is_not_compared(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    rows = h.rows(200, seed=3)
    names = ["amount_log1p", "f1", "f2", "f3"]  # a feature of the shipped specs
    stored = definitions(feature_set_from_config(cfg.features), ["amount_log1p"])
    assert stored, "the shipped specs define amount_log1p"
    stored["amount_log1p"] = {**stored["amount_log1p"], "transform": "none"}
    old = _ensemble(names[:2], metadata={"features": {"definitions": stored}})
    _gate(cfg, tmp_path, old, "r1", (rows[0][:, :2], rows[1]))
    out = _gate(cfg, tmp_path, _ensemble(names), "r2", rows)
    assert (out["decision"], out["champion_ap"]) == ("challenger", None)
    assert (
        "the definition of 1 of champion v1's features changed in the feature specs"
        in (out["reason"])
    )
    assert "amount_log1p (transform: 'none' -> 'log1p')" in out["reason"]


@pytest.mark.usefixtures("fresh_store")
def test_a_champion_whose_artifacts_were_deleted_does_not_fail_the_run(tmp_path, monkeypatch):
    """The champion's logged model deleted from the artifact store (by hand, a cleanup of
    mlartifacts/): the run registers its version as challenger with the reason; it failed
    after training and registered nothing."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    rows = h.rows(200, seed=3)
    _gate(cfg, tmp_path, _ensemble(h.NAMES), "r1", rows)
    source = mlflow.MlflowClient().get_model_version(NAME, "1").source  # models:/m-<id>
    shutil.rmtree(tmp_path / "mlartifacts" / "models" / source.split("/")[-1])
    shutil.rmtree(tmp_path / "model-cache", ignore_errors=True)
    out = _gate(cfg, tmp_path, _ensemble(h.NAMES, weight0=1.0), "r2", rows)
    assert (out["decision"], out["version"], out["champion_version"]) == ("challenger", "2", "1")
    assert out["reason"].startswith("not compared: champion v1 does not load (")
    assert "does not exist here: deleted" in out["reason"]
    aliases = mlflow.MlflowClient().get_registered_model(NAME).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}


@pytest.mark.usefixtures("fresh_store")
def test_a_definition_changed_under_the_same_names_is_not_compared(tmp_path, monkeypatch):
    """The same feature names (a spec's cap or transform edited): the champion was scored
    on values computed with a definition it never learnt, and compared."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    rows = h.rows(200, seed=3)
    names = ["amount_log1p", "f1", "f2", "f3"]
    stored = definitions(feature_set_from_config(cfg.features), ["amount_log1p"])
    stored["amount_log1p"] = {**stored["amount_log1p"], "transform": "none"}
    _gate(cfg, tmp_path, _ensemble(names, metadata={"features": {"definitions": stored}}), "r1",
          rows)  # fmt: skip
    out = _gate(cfg, tmp_path, _ensemble(names, weight0=-2.0), "r2", rows)
    assert (out["decision"], out["champion_ap"]) == ("challenger", None)
    assert "amount_log1p (transform: 'none' -> 'log1p')" in out["reason"]
