"""`fraud-app promote` of a version that holds no loadable ensemble (session 21 probe): a
version registered by hand (`mlflow.register_model` of another model, or of a path that
holds nothing) became the champion without a word, and every `score` of `@champion` failed
afterwards. Now refused before the alias moves, naming the version and what it lacks.
Real MLflow on sqlite, no Spark."""

from __future__ import annotations

import mlflow
import pytest

from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.test_registry import _cli_config

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_version_without_an_ensemble_is_not_promoted(tmp_path, monkeypatch, capsys) -> None:
    from pipelines.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", h.rows(200, seed=3))  # v1
    client = mlflow.MlflowClient()
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    (empty / "README.txt").write_text("a model of another team\n")
    assert client.create_model_version("fraud-ensemble", source=str(empty)).version == 2
    assert client.create_model_version("fraud-ensemble", source=str(tmp_path / "gone")).version == 3
    cfg_file = _cli_config(tmp_path)

    for version in ("2", "3"):
        capsys.readouterr()
        assert main(["-c", str(cfg_file), "promote", version]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith(f"error: cannot promote fraud-ensemble v{version}: ")
        assert "its model does not load as an ensemble" in err[-1]
        assert client.get_model_version_by_alias("fraud-ensemble", "champion").version == 1
        assert "gate.decision" not in client.get_model_version("fraud-ensemble", version).tags

    # a fraud-app version still promotes (and the check leaves the champion's cache usable)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r4", h.rows(200, seed=3))  # v4
    assert main(["-c", str(cfg_file), "promote", "4"]) == 0
    assert client.get_model_version_by_alias("fraud-ensemble", "champion").version == 4
    assert main(["-c", str(cfg_file), "promote", "9"]) == 2
    assert "version '9' of model 'fraud-ensemble' does not exist" in capsys.readouterr().err
    # a mistyped --name: the registered model is missing, not "its model does not load as
    # an ensemble" (what it said, sending the user to look at version 1's files)
    assert main(["-c", str(cfg_file), "promote", "1", "--name", "fraud-ensembel"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: registered model 'fraud-ensembel' does not exist in "), err
    assert err.endswith("see `fraud-app models` for the registered models")
