"""`fraud-app promote`: the promoted version keeps the figures its gate recorded (they were
blanked: gate.new_ap became ''), and promoting the current champion changes nothing (it
logged a promotion run 'previous: v1' and retagged v1 as manual). Real MLflow on sqlite; the
gates score collected rows (tests/fraud_app/tracking/helpers.gate_on_rows), no Spark."""

from __future__ import annotations

import json

import mlflow
import pytest

from fraud_app.tracking import registry
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.test_registry import _cli_config

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_promote_keeps_the_gate_record_and_a_no_op_is_one(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    validation = h.rows(200, seed=3)
    tracker = h.champion_and_challenger(cfg, tmp_path, validation)  # v1 champion, v2 not
    client = mlflow.MlflowClient()
    before = client.get_model_version("fraud-ensemble", "2").tags
    assert before["gate.decision"] == "challenger" and before["gate.new_ap"]

    d = registry.promote(client, "fraud-ensemble", "1", experiment_id=tracker.store.experiment_id)
    assert d.decision == "unchanged" and d.champion_version == "1"
    assert client.get_model_version("fraud-ensemble", "1").tags["gate.decision"] == "champion"
    query = "tags.fraud_app.kind = 'promotion'"
    assert client.search_runs([tracker.store.experiment_id], query) == []

    cfg_file = _cli_config(tmp_path)
    capsys.readouterr()
    assert main(["-c", str(cfg_file), "promote", "2", "--reason", "analyst review"]) == 0
    printed = capsys.readouterr()
    assert "fraud-ensemble v2 is now the champion (previous: v1)." in printed.err
    decision = json.loads(printed.out)  # stdout: the decision's JSON only (a line followed it)
    assert (decision["version"], decision["champion_version"]) == ("2", "1")
    after = client.get_model_version("fraud-ensemble", "2").tags
    kept = ("gate.new_ap", "gate.champion_ap", "gate.champion_version", "gate.window_start")
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert (after["gate.decision"], after["gate.auto_decision"]) == ("manual", "challenger")
    assert (after["gate.reason"], after["gate.promoted_from"]) == ("analyst review", "1")
    assert len(client.search_runs([tracker.store.experiment_id], query)) == 1

    assert main(["-c", str(cfg_file), "promote", "2"]) == 0
    printed = capsys.readouterr()
    assert "v2 is already the champion; nothing changed." in printed.err
    assert json.loads(printed.out)["decision"] == "unchanged"
    client.delete_registered_model_alias("fraud-ensemble", "champion")
    assert main(["-c", str(cfg_file), "promote", "1"]) == 0
    assert "fraud-ensemble v1 is now the champion (previous: none)." in capsys.readouterr().err


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_champion_that_moved_since_the_gate_is_compared_again(tmp_path, monkeypatch):
    """Two runs' gates overlap: this run's gate compared against v1, then another run made
    v2 the champion before this run registered. It took `champion` from the better v2 (the
    alias went to whichever run registered last); now it decides again against v2."""
    from concurrent.futures import Future

    from fraud_app.models.train import evaluate_scores
    from fraud_app.tracking.registry import GateDecision
    from fraud_app.tracking.runs import start_training_run
    from pipelines.training import gate, lifecycle

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    validation = h.rows(200, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r1", validation)  # v1: poor
    medium = h.linear_ensemble(0.5)
    new_ap = evaluate_scores(validation[1], medium.predict_proba(validation[0]))
    new_ap = new_ap["average_precision"]
    # what this run's gate decided while v1 was the champion
    stale = GateDecision("fraud-ensemble", "", "champion", 0.0, new_ap, 0.01, "1", None, "beats v1")
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r2", validation)  # another run: v2
    model_dir = medium.save(tmp_path / "models" / "r3")
    with start_training_run(cfg, "r3") as tracker:
        logged = tracker.log_model_async(model_dir, h.NAMES, h.rows(5, seed=1)[0])
        decided: Future = Future()
        decided.set_result(stale)
        ctx = gate.GateContext(cfg, h.NAMES, h.splits(None), new_ap, "features", validation)
        out = tracker.result(
            tracker.submit("register", lifecycle._register, tracker, logged, decided, ctx), "r"
        )
    assert (out["decision"], out["champion_version"], out["version"]) == ("challenger", "2", "3")
    aliases = mlflow.MlflowClient().get_registered_model("fraud-ensemble").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "2", "challenger": "3"}


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_promoting_an_archived_version_says_so(tmp_path, monkeypatch, caplog):
    """A version someone retired (MLflow's legacy stage Archived, from the UI) was made the
    champion without a word (session 50): promoted as asked, with one WARNING."""
    import warnings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    tracker = h.champion_and_challenger(cfg, tmp_path, h.rows(200, seed=3))
    client = mlflow.MlflowClient()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow 3
        client.transition_model_version_stage("fraud-ensemble", "2", "Archived")
    caplog.set_level("WARNING", logger="fraud_app.tracking.registry")
    d = registry.promote(client, "fraud-ensemble", "2", experiment_id=tracker.store.experiment_id)
    assert d.decision == "manual"
    said = [r.getMessage() for r in caplog.records if r.name == "fraud_app.tracking.registry"]
    assert len(said) == 1 and "fraud-ensemble v2 is in MLflow's stage Archived" in said[0], said


@pytest.mark.usefixtures("fresh_store")
def test_models_shows_a_version_s_stage(tmp_path, monkeypatch, capsys):
    """`models` showed no stage, so an Archived version (retired in the UI) looked like any
    other one, though `promote` warns about it (session 50, left50b): `--json` has each
    version's `stage` (null for MLflow's None), the table a stage column when one is set."""
    import warnings

    from pipelines.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    h.champion_and_challenger(cfg, tmp_path, h.rows(200, seed=3))
    cfg_file = _cli_config(tmp_path)
    capsys.readouterr()
    assert main(["-c", str(cfg_file), "models"]) == 0
    assert _header(capsys.readouterr().out.splitlines())[-2:] == ["gate", "created"]  # as before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow 3
        mlflow.MlflowClient().transition_model_version_stage("fraud-ensemble", "2", "Archived")
    assert main(["-c", str(cfg_file), "models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["stage"]) for r in rows] == [("2", "Archived"), ("1", None)]
    assert main(["-c", str(cfg_file), "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert _header(lines)[-3:] == ["gate", "stage", "created"]
    v2 = next(line for line in lines if line.split()[:1] == ["2"])
    v1 = next(line for line in lines if line.split()[:1] == ["1"])
    assert v2.split()[-2] == "Archived" and v1.split()[-2] == "-", (v2, v1)


def _header(lines: list[str]) -> list[str]:
    return next(line for line in lines if line.lstrip().startswith("version")).split()
