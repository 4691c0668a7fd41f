"""Registry and promotion gate on real MLflow (sqlite in tmp) and real Spark scoring."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest

from fraud_app.errors import ModelLoadError
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.tracking import registry
from fraud_app.tracking.models import resolve_model_dir
from fraud_app.tracking.runs import start_training_run
from pipelines.training import gate, lifecycle, nodes
from tests.fraud_app.tracking import helpers as h

pytestmark = [pytest.mark.spark, pytest.mark.integration]


@pytest.fixture(scope="module")
def validation(spark):
    return h.frame(spark, *h.rows(400, seed=3))


def _gate(spark, cfg, tmp_path, ensemble, validation, run):
    model_dir = ensemble.save(tmp_path / "models" / run)
    new_ap = nodes.evaluate(nodes.score(validation, ensemble, features_col="features"))
    with start_training_run(cfg, run) as tracker:
        ctx = gate.GateContext(cfg, h.NAMES, h.splits(validation),
                                    new_ap["average_precision"], "features")  # fmt: skip
        out = lifecycle.register_and_gate(
            tracker, lifecycle.start_model_logging(tracker, model_dir, ctx)
        )
    return out, tracker


def _aliases(client, cfg) -> dict[str, str]:
    model = client.get_registered_model(cfg.registry.model_name)
    return {k: str(v) for k, v in model.aliases.items()}


def _tags(cfg, version):
    client = mlflow.MlflowClient()
    return client.get_model_version(cfg.registry.model_name, version).tags


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_gate_first_better_worse_and_manual(spark, tmp_path, validation, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path, **{"registry.promotion_margin": 0.01})
    good, bad = h.linear_ensemble(2.0), h.linear_ensemble(-2.0)

    first, _ = _gate(spark, cfg, tmp_path, bad, validation, "r1")  # no champion yet
    assert first["decision"] == "champion" and first["champion_ap"] is None
    assert first["version"] == "1" and first["reason"] == "no champion yet"

    better, _ = _gate(spark, cfg, tmp_path, good, validation, "r2")
    assert better["decision"] == "champion", better
    assert better["champion_version"] == "1"
    assert better["new_ap"] > better["champion_ap"] + 0.01
    tags = _tags(cfg, "2")
    assert tags["gate.decision"] == "champion"
    assert float(tags["gate.new_ap"]) == pytest.approx(better["new_ap"])
    assert float(tags["gate.champion_ap"]) == pytest.approx(better["champion_ap"])
    assert (tags["gate.window_start"], tags["gate.window_end"]) == ("2024-02-01", "2024-02-06")

    worse, tracker = _gate(spark, cfg, tmp_path, bad, validation, "r3")
    assert worse["decision"] == "challenger" and worse["champion_version"] == "2"
    assert worse["new_ap"] < worse["champion_ap"]
    run = mlflow.MlflowClient().get_run(tracker.run_id)
    assert run.data.tags["gate.decision"] == "challenger"
    assert run.data.metrics["gate_champion_ap"] == pytest.approx(worse["champion_ap"])

    client = mlflow.MlflowClient()
    assert _aliases(client, cfg) == {"champion": "2", "challenger": "3"}

    # The champion's score was computed on THIS validation window by its own weights.
    champ = FraudEnsemble.load(resolve_model_dir("models:/fraud-ensemble@champion", config=cfg))
    ap = nodes.evaluate(nodes.score(validation, champ, features_col="features"))
    assert ap["average_precision"] == pytest.approx(worse["champion_ap"], abs=1e-12)

    d = registry.promote(
        client, cfg.registry.model_name, "3", experiment_id=tracker.store.experiment_id
    )
    assert d.decision == "manual" and d.champion_version == "2"
    assert _aliases(client, cfg) == {"champion": "3"}
    assert _tags(cfg, "3")["gate.decision"] == "manual"
    promo = client.search_runs([tracker.store.experiment_id], "tags.fraud_app.kind = 'promotion'")
    assert len(promo) == 1 and promo[0].data.tags["promotion.previous_champion"] == "2"

    listed = registry.list_versions(client, cfg.registry.model_name)
    assert [r["version"] for r in listed] == ["3", "2", "1"]
    assert listed[0]["aliases"] == ["champion"] and listed[0]["gate"]["decision"] == "manual"
    _cli_models_and_promote(tmp_path, capsys)


def _cli_config(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"paths:\n  root: {tmp_path}\n")
    return cfg_file


def _cli_models_and_promote(tmp_path, capsys):
    from pipelines.cli import main

    cfg_file = _cli_config(tmp_path)
    capsys.readouterr()
    assert main(["-c", str(cfg_file), "models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["aliases"]) for r in rows] == [("3", ["champion"]), ("2", []),
                                                             ("1", [])]  # fmt: skip
    assert main(["-c", str(cfg_file), "promote", "2", "--reason", "rollback"]) == 0
    printed = capsys.readouterr()
    assert "v2 is now the champion (previous: v3)" in printed.err
    assert json.loads(printed.out)["version"] == "2"  # stdout: the decision's JSON only
    assert main(["-c", str(cfg_file), "promote", "9"]) == 2
    assert "version '9' of model 'fraud-ensemble' does not exist" in capsys.readouterr().err
    assert main(["-c", str(cfg_file), "models", "--name", "nope"]) == 2
    assert "registered model 'nope' does not exist; registered: fraud-ensemble; train one" in (
        capsys.readouterr().err
    )


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_gate_on_training_s_collected_rows_equals_spark_scoring_without_a_spark_job(
    spark, tmp_path, validation, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    good, bad = h.linear_ensemble(2.0), h.linear_ensemble(-2.0)
    _gate(spark, cfg, tmp_path, good, validation, "r1")  # v1 = champion (Spark path)

    # what training's validation collect hands the gate: the scores and the feature matrix
    window = nodes.collect_validation_window(validation, "features")
    collected, rows = window.scored(bad), window.gate_rows
    X, y = h.rows(400, seed=3)
    assert "features" not in collected and rows[0].dtype == np.float32
    assert np.array_equal(rows[0], X) and np.array_equal(rows[1], y)
    model_dir = bad.save(tmp_path / "models" / "r2")
    with start_training_run(cfg, "r2") as tracker:
        ctx = gate.GateContext(
            cfg, h.NAMES,
            h.splits(None),  # the gate must not touch the validation DataFrame
            nodes.evaluate_arrays(collected)["average_precision"], "features", rows=rows,
        )  # fmt: skip
        out = lifecycle.register_and_gate(
            tracker, lifecycle.start_model_logging(tracker, model_dir, ctx)
        )
    spark_ap = nodes.evaluate(nodes.score(validation, good, features_col="features"))
    assert out["decision"] == "challenger" and out["champion_version"] == "1"
    assert out["champion_ap"] == pytest.approx(spark_ap["average_precision"], abs=1e-12)
    local = mlflow.artifacts.download_artifacts(out["model_uri"], dst_path=str(tmp_path / "dl"))
    example = mlflow.models.Model.load(local).load_input_example(local)
    assert np.array_equal(example.to_numpy(), X[:5].astype(np.float64))


@pytest.mark.slow
@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_margin_keeps_an_equal_model_out(spark, tmp_path, validation, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path, **{"registry.promotion_margin": 0.05})
    _gate(spark, cfg, tmp_path, h.linear_ensemble(2.0), validation, "a")
    same, _ = _gate(spark, cfg, tmp_path, h.linear_ensemble(2.0), validation, "b")
    assert same["decision"] == "challenger"
    assert same["new_ap"] == pytest.approx(same["champion_ap"])


def test_a_margin_beyond_any_ap_difference_is_refused(tmp_path):
    """`promotion_margin: 2` (meant as 2 %) was taken as written: no AP beats another by 2,
    so the gate kept every champion for good (session 50). 1 stays: the gate never moves."""
    from fraud_app.errors import ConfigError

    with pytest.raises(ConfigError, match="promotion_margin: Input should be less than or equal"):
        h.config(tmp_path, **{"registry.promotion_margin": 2})
    assert h.config(tmp_path, **{"registry.promotion_margin": 1}).registry.promotion_margin == 1


def test_decide_rule():
    assert registry.decide(0.5, None, 0.1)[0] == "champion"
    assert registry.decide(0.61, 0.5, 0.1)[0] == "champion"
    assert registry.decide(0.6, 0.5, 0.1)[0] == "challenger"
    assert registry.decide(0.4, 0.5, 0.0)[0] == "challenger"


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_unknown_name_alias_version_are_named(spark, tmp_path, validation, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    _gate(spark, cfg, tmp_path, h.linear_ensemble(1.0), validation, "x")
    with pytest.raises(ModelLoadError, match="registered model 'nope' does not exist"):
        resolve_model_dir("models:/nope@champion", config=cfg)
    with pytest.raises(ModelLoadError, match="alias 'gold' of model 'fraud-ensemble'"):
        resolve_model_dir("models:/fraud-ensemble@gold", config=cfg)
    with pytest.raises(ModelLoadError, match="version '7' of model 'fraud-ensemble'"):
        resolve_model_dir("models:/fraud-ensemble/7", config=cfg)
    with pytest.raises(ModelLoadError, match="missing does not exist; expected an ensemble"):
        resolve_model_dir(str(tmp_path / "missing"), config=cfg)
    with pytest.raises(ModelLoadError, match="neither an ensemble directory"):
        resolve_model_dir(str(tmp_path), config=cfg)
    client = mlflow.MlflowClient()
    with pytest.raises(ModelLoadError, match="version '9'"):
        registry.promote(client, "fraud-ensemble", "9", experiment_id="0")
    # Every accepted URI form resolves to the same ensemble directory content.
    v1 = resolve_model_dir("models:/fraud-ensemble/1", config=cfg)
    alias = resolve_model_dir("models:/fraud-ensemble@champion", config=cfg)
    assert (v1 / "ensemble.json").read_text() == (alias / "ensemble.json").read_text()
    source = client.get_model_version("fraud-ensemble", "1").source
    assert (resolve_model_dir(source, config=cfg) / "ensemble.json").is_file()
