"""Rolling back the champion (`fraud-app promote OLD`) and reading who was the champion
when in `fraud-app models`; `promote challenger` / `promote @champion`. Real MLflow on
sqlite, the real CLI; the gates score collected rows (helpers.gate_on_rows), no Spark.

Before: after a rollback the replaced version showed `manual` with no alias and nothing
said it had been the champion, until when or what replaced it (a version promoted twice
kept only its last `gate.promoted_from`); `promote challenger` said only "VERSION must be a
version number"."""

from __future__ import annotations

import json

import mlflow
import pytest

from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.test_registry import _cli_config

pytestmark = pytest.mark.integration
NAME = "fraud-ensemble"


def _two_versions(tmp_path, monkeypatch, first: float, second: float):
    """Versions 1 and 2 (linear ensembles of those scales) through the gate on one validation
    window; the CLI config file of the store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    validation = h.rows(200, seed=3)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(first), "r1", validation)
    h.gate_on_rows(cfg, tmp_path, h.linear_ensemble(second), "r2", validation)
    return _cli_config(tmp_path)


@pytest.mark.usefixtures("fresh_store")
def test_a_rollback_is_kept_in_the_champion_history(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    cfg_file = _two_versions(tmp_path, monkeypatch, 0.5, 2.0)  # v1 champion, v2 beats it
    capsys.readouterr()
    assert main(["-c", str(cfg_file), "promote", "1", "--reason", "rollback: v2 misbehaves"]) == 0
    assert "v1 is now the champion (previous: v2)" in capsys.readouterr().err

    client = mlflow.MlflowClient()
    v2 = client.get_model_version(NAME, "2").tags
    assert v2["champion.replaced_by"] == "1 (manual)"
    v1 = client.get_model_version(NAME, "1").tags
    assert v2["champion.until"] == v1["champion.since"]
    # v1, the champion again, no longer says that v2 replaced it (its first period's end:
    # `champion.replaced_by: 2 (gate)` stayed on the champion; session 50)
    assert "champion.replaced_by" not in v1 and "champion.until" not in v1

    assert main(["-c", str(cfg_file), "models", "--json"]) == 0
    rows = {r["version"]: r for r in json.loads(capsys.readouterr().out)}
    first, back = rows["1"]["champion_periods"]
    assert (first["how"], first["replaced"], first["replaced_by"]) == ("gate", None, "2")
    assert (back["how"], back["replaced"], back["until"]) == ("manual", "2", None)
    (held,) = rows["2"]["champion_periods"]
    assert (held["how"], held["replaced"], held["replaced_by"]) == ("gate", "1", "1")
    assert held["until"] == back["since"]

    assert main(["-c", str(cfg_file), "models"]) == 0
    table = capsys.readouterr().out
    history = table[table.index("champion history (newest first):") :].splitlines()
    assert history[1].startswith("  v1      since ")
    assert history[1].endswith("manual, replaced v2: rollback: v2 misbehaves")
    assert "gate, replaced v1: AP " in history[2] and history[3].endswith("gate: no champion yet")


@pytest.mark.usefixtures("fresh_store")
def test_promote_of_an_alias_names_its_version(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    cfg_file = _two_versions(tmp_path, monkeypatch, 2.0, -2.0)  # v1 champion, v2 challenger
    capsys.readouterr()
    assert main(["-c", str(cfg_file), "promote", "challenger"]) == 2
    err = capsys.readouterr().err
    assert "VERSION must be a version number such as 3" in err
    assert "Received: 'challenger', an alias of fraud-ensemble: it names v2 now; run " in err
    assert "`fraud-app promote 2`" in err
    assert main(["-c", str(cfg_file), "promote", "@champion"]) == 2
    err = capsys.readouterr().err
    assert "Received: '@champion', the alias of fraud-ensemble v1, the champion already" in err
    assert main(["-c", str(cfg_file), "promote", "stable"]) == 2  # no such alias: as before
    assert capsys.readouterr().err.rstrip().endswith("Received: 'stable'")
    aliases = mlflow.MlflowClient().get_registered_model(NAME).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}


@pytest.mark.usefixtures("fresh_store")
@pytest.mark.parametrize("letter", ["x", "é"])
def test_the_history_tag_fits_the_tag_column_of_a_sql_store(tmp_path, letter):
    """MLflow's registered-model tag column is VARCHAR(5000) (SqlRegisteredModelTag.value,
    MLflow 3.17): Postgres and MySQL refuse a longer value, so
    the move after the tag outgrew it failed (sqlite does not check). 30 moves with reasons
    of 120 characters took 6,900 characters (24,900 with non-ASCII reasons, escaped)."""
    from fraud_app.tracking.champion_history import HISTORY_TAG, read_history, record_move

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for _ in range(40):
        client.create_model_version(NAME, source=str(tmp_path))
    for v in range(1, 41):
        record_move(client, NAME, str(v), str(v - 1) if v > 1 else None, "manual",
                    f"v{v} " + letter * 200)  # fmt: skip
    tag = client.get_registered_model(NAME).tags[HISTORY_TAG]
    assert len(tag) <= 5000
    history = read_history({HISTORY_TAG: tag})
    assert history[-1]["version"] == "40" and history[-1]["reason"].startswith("v40 ")
    assert [m["version"] for m in history] == [str(v) for v in range(41 - len(history), 41)]
    assert len(history) >= 20  # the newest 20 at least (all 30 of KEPT with short reasons)


@pytest.mark.usefixtures("fresh_store")
def test_models_reads_the_registered_model_once(tmp_path, monkeypatch, capsys):
    """`fraud-app models` read the registered model twice: for the table's aliases and again
    for the champion history (a round trip more to a server; a promote in between could make
    the table and the history disagree). Now once, both from that read (session 37). The
    calls are counted on their way to the real store, not changed."""
    from pipelines.cli import main

    cfg_file = _two_versions(tmp_path, monkeypatch, 0.5, 2.0)
    reads, real = [], mlflow.MlflowClient.get_registered_model

    def counted(self, name):
        reads.append(name)
        return real(self, name)

    monkeypatch.setattr(mlflow.MlflowClient, "get_registered_model", counted)
    capsys.readouterr()
    assert main(["-c", str(cfg_file), "models"]) == 0
    out = capsys.readouterr().out
    assert "champion history (newest first):" in out and "gate, replaced v1: AP " in out
    assert reads == [NAME]
