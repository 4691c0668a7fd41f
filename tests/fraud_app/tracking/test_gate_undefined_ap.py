"""The promotion gate on a validation window without frauds (AP undefined), on real MLflow
(sqlite in tmp): a first version was promoted to champion without a word."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest

from fraud_app.tracking import registry
from pipelines.cli import main
from pipelines.commands.run import _print_lifecycle
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


def _no_frauds():
    X, y = h.rows(200, seed=5)
    return X, np.zeros_like(y)


def _aliases(cfg) -> dict[str, str]:
    model = mlflow.MlflowClient().get_registered_model(cfg.registry.model_name)
    return {k: str(v) for k, v in model.aliases.items()}


def _tags(cfg, version) -> dict[str, str]:
    return mlflow.MlflowClient().get_model_version(cfg.registry.model_name, version).tags


def test_decide_never_promotes_an_undefined_ap_unless_asked():
    for ap in (None, float("nan")):
        alias, reason = registry.decide(ap, None, 0.0)
        assert alias == "challenger" and "not promoted" in reason
        assert "fraud-app promote VERSION" in reason and "promote_undefined_ap" in reason
        assert registry.decide(ap, None, 0.0, promote_undefined=True)[0] == "champion"
        # a champion exists (its AP on the same window is undefined too): it stays
        alias, reason = registry.decide(ap, None, 0.0, champion=True, promote_undefined=True)
        assert alias == "challenger" and reason.endswith("not compared; the champion stays")
    assert registry.decide(0.3, None, 0.0) == ("champion", "no champion yet")


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_first_version_without_frauds_in_validation_is_not_promoted(tmp_path, monkeypatch,
                                                                     capsys):  # fmt: skip
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path, **{"registry.promote_undefined_ap": False})
    out, _ = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", _no_frauds())
    assert out["decision"] == "challenger" and out["champion_version"] is None, out
    assert out["validation_ap_undefined"] is True and out["new_ap"] is None
    assert _aliases(cfg) == {"challenger": "1"}  # no champion: nothing unvalidated serves
    tags = _tags(cfg, "1")
    assert tags["gate.validation_ap_undefined"] == "true" and tags["gate.new_ap"] == ""
    assert "validation AP undefined (no frauds in the validation window)" in tags["gate.reason"]

    # what `train` / `run` print: the decision and what to do, naming the version
    _print_lifecycle({"registry": out}, h.config(tmp_path, **{"tracking.enabled": False}))
    printed = capsys.readouterr().err
    assert "registered fraud-ensemble v1 -> challenger (validation AP undefined" in printed
    assert (
        "WARNING: v1 was NOT promoted: its validation AP is undefined (no frauds in the "
        "validation window 2024-02-01..2024-02-05) and there is no champion yet" in printed
    )
    assert "fraud-app promote 1" in printed and "nan" not in printed

    # `fraud-app models`: the version is marked, with the note, and --json carries the tag
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"paths:\n  root: {tmp_path}\n")
    assert main(["-c", str(cfg_file), "models"]) == 0
    table = capsys.readouterr().out
    assert (
        "undef*" in table
        and "* validation AP undefined (no frauds in the validation window): v1;" in table
    )
    assert main(["-c", str(cfg_file), "models", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["gate"]["validation_ap_undefined"] == "true" and row["aliases"] == ["challenger"]
    # the by-hand promotion still works, and is recorded as manual
    assert main(["-c", str(cfg_file), "promote", "1", "--reason", "bootstrap"]) == 0
    assert _aliases(cfg) == {"champion": "1"}
    assert _tags(cfg, "1")["gate.decision"] == "manual"

    # with a champion in place, a version without a defined AP is not compared: it stays
    out, _ = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r2", _no_frauds())
    assert out["decision"] == "challenger" and out["champion_version"] == "1", out
    assert out["reason"].endswith("not compared; the champion stays")
    assert out["champion_ap"] is None  # the champion's AP on that window: undefined too
    assert _aliases(cfg) == {"champion": "1", "challenger": "2"}
    assert _tags(cfg, "2")["gate.champion_ap"] == ""  # it was the text "nan"


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_by_default_a_first_version_is_promoted_with_a_warning(tmp_path, monkeypatch,
                                                            capsys):  # fmt: skip
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)  # the default: the champion always moves when there is none
    assert cfg.registry.promote_undefined_ap is True
    out, _ = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r1", _no_frauds())
    assert out["decision"] == "champion" and out["validation_ap_undefined"] is True
    assert "promoted unvalidated because registry.promote_undefined_ap is true" in out["reason"]
    assert _aliases(cfg) == {"champion": "1"}
    assert _tags(cfg, "1")["gate.validation_ap_undefined"] == "true"
    _print_lifecycle({"registry": out}, h.config(tmp_path, **{"tracking.enabled": False}))
    assert "WARNING: v1 is the champion although its validation AP is undefined" in (
        capsys.readouterr().err
    )
    # a version whose AP is defined carries no such tag
    X, y = h.rows(200, seed=5)
    out, _ = h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r2", (X, y))
    assert out["validation_ap_undefined"] is False and out["new_ap"] > 0.5
    assert "gate.validation_ap_undefined" not in _tags(cfg, "2")
