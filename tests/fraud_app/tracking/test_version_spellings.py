"""Versions spelt otherwise than the registry writes them (session 22 probe). `promote 02`
of the champion v2 said `v02 is now the champion (previous: v2)`, logged a manual
promotion run and wrote over the gate's record on v2 (`gate.decision` manual, promoted
from itself, `superseded_by` 2): MLflow read '02' as 2, fraud-app compared the text.
A version beyond the store's integer column said the store `could not answer ... run the
command again` (a scheduler retries that for ever). Real MLflow on sqlite, the CLI's own
`main()` in this process (a `fraud-app` child paid its start and MLflow's import three
times; the spelling is the commands' business, not the process's)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from fraud_app.errors import ModelLoadError
from fraud_app.tracking.models import resolve_model
from fraud_app.tracking.registry import MAX_VERSION, version_number
from pipelines.cli import main
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration


def test_version_numbers_are_ascii_digits_without_leading_zeros():
    assert [version_number(v) for v in ("2", "02", "0", str(MAX_VERSION))] == [
        "2", "2", "0", str(MAX_VERSION)
    ]  # fmt: skip
    for bad in ("", "-1", "1.0", "v2", "\u00b3", "\u0663", str(MAX_VERSION + 1), " 2"):
        assert version_number(bad) is None, bad


@dataclass
class _Done:
    returncode: int
    stderr: str


def _promote(capsys, cfg_file: Path, version: str) -> _Done:
    """`fraud-app -c CFG --log-level WARNING promote VERSION`: its exit code and stderr."""
    capsys.readouterr()
    code = main(["-c", str(cfg_file), "--log-level", "WARNING", "promote", version])
    return _Done(code, capsys.readouterr().err)


def test_a_version_with_a_leading_zero_is_that_version(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    validation = h.rows(200, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(-2.0), "r1", validation)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(2.0), "r2", validation)  # the champion
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    before = client.get_model_version("fraud-ensemble", "2").tags
    assert before["gate.decision"] == "champion"

    found = resolve_model("models:/fraud-ensemble/02", config=cfg)
    assert (found.name, found.version) == ("fraud-ensemble", "2")
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"paths: {{root: {tmp_path}}}\n")
    done = _promote(capsys, cfg_file, "02")
    assert done.returncode == 0, done.stderr
    assert "fraud-ensemble v2 is already the champion; nothing changed" in done.stderr
    assert client.get_model_version("fraud-ensemble", "2").tags == before  # no record written

    done = _promote(capsys, cfg_file, "01")  # a real move, named as the registry names it
    assert done.returncode == 0, done.stderr
    assert "fraud-ensemble v1 is now the champion (previous: v2)" in done.stderr
    tags = client.get_model_version("fraud-ensemble", "1").tags
    assert tags["gate.promoted_from"] == "2" and "gate.superseded_by" not in tags

    huge = str(MAX_VERSION + 1)
    done = _promote(capsys, cfg_file, huge)
    assert done.returncode == 2
    assert f"VERSION must be a version number such as 3 (digits 0-9, at most {MAX_VERSION}). " \
        f"Received: '{huge}'" in done.stderr  # fmt: skip
    with pytest.raises(ModelLoadError, match=rf"version '{huge}' of model 'fraud-ensemble' "
                       r"does not exist"):  # fmt: skip
        resolve_model(f"models:/fraud-ensemble/{huge}", config=cfg)


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_an_empty_name_flag_is_refused_not_read_as_the_default(tmp_path, monkeypatch, capsys):
    """`promote 2 --name "$MODEL"` with MODEL unset moved the champion of
    registry.model_name, the model the flag was meant to leave alone (session 50)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    h.champion_and_challenger(cfg, tmp_path, h.rows(200, seed=3))  # v1 champion, v2 not
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(f"paths:\n  root: {tmp_path}\n")
    capsys.readouterr()
    for args in (["promote", "2", "--name", ""], ["promote", "2", "--name", "  "],
                 ["models", "--name", ""]):  # fmt: skip
        assert main(["-c", str(cfg_file), *args]) == 2, args
        err = capsys.readouterr().err
        assert "--name is" in err and "give a registered model name" in err, err
    champion = mlflow.MlflowClient().get_model_version_by_alias("fraud-ensemble", "champion")
    assert str(champion.version) == "1"
