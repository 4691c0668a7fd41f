"""Every MLflow run the app starts is owned by its process, and what its retry makes of it
(real MLflow on sqlite in tmp; kills are real SIGKILLs of a child process; session 40).

Before: a `train` run that FAILED (an error, its process going on) left its registered
version tagged `killed` by the next run of its name, as did a run still RUNNING in a live
process (a concurrent run); `tune` and `backtest` runs recorded no owner, so a killed
search stayed RUNNING for good, its trials or folds with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from fraud_app.errors import TrackingError
from fraud_app.tracking.killed_runs import OWNER_TAG, owner_tags
from fraud_app.tracking.ownership import PROJECT_TAG, project_identity
from fraud_app.tracking.registry import alias_version, list_versions
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.killed_children import killed_child, tune_or_backtest
from tests.processes import CLI_DEADLINE_S

pytestmark = pytest.mark.integration


def _runs(client, name: str):
    experiments = [e.experiment_id for e in client.search_experiments()]
    return [r for r in client.search_runs(experiments) if r.info.run_name == name]


@pytest.mark.usefixtures("fresh_store")
def test_a_failed_train_leaves_its_version_failed_not_killed(tmp_path, monkeypatch):
    """The alias move fails (the store refuses it); the process goes on, its run ends
    FAILED with the error. Its retry tags the version `failed` with that error (was:
    `killed`, as if someone had killed it)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    name, rows = cfg.registry.model_name, h.rows(400, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "champ", rows)
    real = mlflow.MlflowClient.set_registered_model_alias

    def refused(self, *args, **kwargs):
        raise MlflowException("the store refused the alias (injected)")

    monkeypatch.setattr(mlflow.MlflowClient, "set_registered_model_alias", refused)
    with pytest.raises(TrackingError, match="refused the alias"):
        h.gate_on_rows(cfg, tmp_path / "failed", h.linear_ensemble(2.0), "w1", rows)
    monkeypatch.setattr(mlflow.MlflowClient, "set_registered_model_alias", real)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (failed,) = _runs(client, "w1")
    assert failed.info.status == "FAILED"
    assert "refused the alias" in failed.data.tags["fraud_app.error"]
    assert client.get_model_version(name, "2").tags["gate.decision"] == "champion"

    out, _ = h.gate_on_rows(cfg, tmp_path / "retry", h.linear_ensemble(2.0), "w1", rows)

    assert (out["decision"], out["version"]) == ("champion", "3")
    listed = {v["version"]: v for v in list_versions(client, name)}
    gate = listed["2"]["gate"]
    assert gate["decision"] == "failed", gate  # was: killed
    assert gate["auto_decision"] == "champion" and gate["retried_as"] == "3"
    assert gate["run_status"] == "FAILED"
    assert "refused the alias" in gate["error"]
    assert "failed before v2 got its alias" in gate["reason"]
    assert client.get_run(failed.info.run_id).info.status == "FAILED"  # not re-ended


@pytest.mark.usefixtures("fresh_store")
def test_a_version_of_a_concurrent_live_run_is_not_touched(tmp_path, monkeypatch):
    """A run of the same name RUNNING in a live process (another host's train of this
    project, between its registration and its alias): neither its run nor its version is
    touched (was: the version tagged `killed`)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    name, rows = cfg.registry.model_name, h.rows(400, seed=3)
    _, tracker = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "champ", rows)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_run(tracker.run_id).info.experiment_id
    tags = {"fraud_app.kind": "training", "fraud_app.run": "w1",
            PROJECT_TAG: project_identity(cfg), **owner_tags()}  # fmt: skip
    live = client.create_run(experiment, run_name="w1", tags=tags).info.run_id
    source = client.get_model_version(name, "1").source
    client.create_model_version(name, source, run_id=live,
                                tags={"gate.decision": "challenger"})  # fmt: skip

    out, _ = h.gate_on_rows(cfg, tmp_path / "retry", h.linear_ensemble(2.0), "w1", rows)

    assert out["version"] == "3"
    tags = client.get_model_version(name, "2").tags
    assert tags["gate.decision"] == "challenger", tags.get("gate.reason")  # was: killed
    assert "gate.retried_as" not in tags
    assert client.get_run(live).info.status == "RUNNING"
    assert alias_version(client, name, "champion") == "3"


def _killed_child(root: Path, what: str) -> None:
    killed_child(root, None, tune_or_backtest, root, what, timeout=CLI_DEADLINE_S)


@pytest.mark.parametrize("what", ["tune", "backtest"])
@pytest.mark.usefixtures("fresh_store")
def test_a_killed_tune_or_backtest_is_ended_with_its_nested_runs_by_its_retry(
    tmp_path, monkeypatch, what
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    _killed_child(tmp_path, what)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (parent,) = _runs(client, f"{what}-s1")
    nested = "trial-001" if what == "tune" else "fold-01"
    done = "trial-000" if what == "tune" else "fold-00"
    (child,) = _runs(client, nested)
    assert (parent.info.status, child.info.status) == ("RUNNING", "RUNNING")
    for run in (parent, child):  # was: no owner, so RUNNING for good
        assert json.loads(run.data.tags[OWNER_TAG])["pid"] != os.getpid()

    if what == "tune":
        from fraud_app.tracking.tune import tune_tracker

        t = tune_tracker(cfg)
        with t.parent("tune-s1", {"method": "grid", "trials": 1}):
            t.trial(0, {"lr": 0.1}, {"validation_average_precision": 0.5})
    else:
        from fraud_app.tracking.backtest import backtest_tracker

        t = backtest_tracker(cfg)
        with t.parent("backtest-s1", {"folds": 1}):
            pass

    assert client.get_run(parent.info.run_id).info.status == "KILLED"  # was: RUNNING
    assert client.get_run(parent.info.run_id).data.tags["fraud_app.ended_by"] == t.run_id
    assert client.get_run(child.info.run_id).info.status == "KILLED"  # its nested run too
    assert all(r.info.status == "FINISHED" for r in _runs(client, done))
    assert client.get_run(t.run_id).info.status == "FINISHED"


@pytest.mark.usefixtures("fresh_store")
def test_every_run_the_app_starts_records_its_process(tmp_path, monkeypatch):
    """Training (and its nested member runs), promotion: each carries the owner tag."""
    from fraud_app.tracking.registry import promote

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, name, experiment, other = h.two_gated_versions(tmp_path)
    assert promote(client, name, other, experiment_id=experiment).decision == "manual"
    runs = client.search_runs([experiment])
    kinds = {r.data.tags.get("fraud_app.kind") for r in runs}
    assert {"training", "promotion"} <= kinds
    for run in runs:
        owner = json.loads(run.data.tags.get(OWNER_TAG, "null") or "null")
        assert owner and owner["pid"] == os.getpid(), (run.info.run_name, run.data.tags)
