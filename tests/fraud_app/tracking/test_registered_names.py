"""Registered model names that no models:/ URI can name (session 51). MLflow reads
`models:/fraud?eu@champion` and `models:/fraud?eu/3` as the logged model `fraud` (urllib
cuts the path at '?'), so `registry.model_name: fraud?eu` scored, gated and promoted
through URIs naming another model; `fraud/eu` and `fraud:eu` were refused by MLflow only
when it registered, after the whole training run. Both are refused before anything runs:
in the config and in `--name`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fraud_app.config import AppConfig
from fraud_app.naming import registered_name_problem
from pipelines.cli import main


@pytest.mark.parametrize("name", ["fraud?eu", "fraud/eu", "fraud:eu", "fraud\neu", " "])
def test_a_name_no_uri_can_hold_is_refused_in_the_config(name):
    with pytest.raises(ValidationError, match="registry.model_name") as caught:
        AppConfig.model_validate({"registry": {"model_name": name}})
    assert "a registered model's name may not hold" in str(caught.value) or "blank" in str(
        caught.value
    )


@pytest.mark.parametrize("name", ["fraud-ensemble", "fraud@eu", "fraud eu", "Fraud_2026.v1"])
def test_names_mlflow_uris_carry_are_kept(name):
    assert registered_name_problem(name) is None
    assert AppConfig.model_validate({"registry": {"model_name": name}}).scoring.model == (
        f"models:/{name}@champion"
    )


@pytest.mark.parametrize("command", [["promote", "2"], ["models"]])
def test_a_name_flag_no_uri_can_hold_is_refused_before_any_store(tmp_path, capsys, command):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths:\n  root: {tmp_path / 'root'}\n")
    assert main(["-c", str(cfg), *command, "--name", "fraud?eu"]) == 2
    err = capsys.readouterr().err
    assert "--name 'fraud?eu' holds '?'" in err and "nothing was changed" in err, err
    assert not (tmp_path / "root" / "mlflow.db").exists()  # refused before a store was made
