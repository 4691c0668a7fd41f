"""`fraud-app promote VERSION --reason TEXT` (session 46 probes). A reason over MLflow's
limit for a registry tag (100,000 characters) was refused by the store only after
`champion` had moved: a traceback, exit 1, v2 the champion with a half-written record (the
champion history still naming v1, v1's tags unchanged), and a retry answered "already the
champion; nothing changed". `--reason` was documented as "recorded on the version and the
run"; the promotion run had no reason. Real MLflow on sqlite, the CLI's main()."""

from __future__ import annotations

import os

import mlflow
import pytest

from fraud_app.tracking.champion_history import read_history
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.test_registry import _cli_config

pytestmark = pytest.mark.integration
QUERY = "tags.fraud_app.kind = 'promotion'"


@pytest.mark.usefixtures("fresh_store")  # a new store, not migrated again
def test_a_reason_too_long_for_the_store_is_refused_before_the_champion_moves(
    tmp_path, monkeypatch, capsys
):
    from pipelines.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = h.config(tmp_path)
    validation = h.rows(200, seed=3)
    tracker = h.champion_and_challenger(cfg, tmp_path, validation)  # v1 champion, v2 not
    client = mlflow.MlflowClient()
    before = client.get_model_version("fraud-ensemble", "2").tags
    cfg_file = _cli_config(tmp_path)
    capsys.readouterr()

    for length in (100_001, 5_001):  # over MLflow's limit; over ours
        code = main(["-c", str(cfg_file), "promote", "2", "--reason", "y" * length])
        err = capsys.readouterr().err
        assert code == 2, err
        assert f"error: the promotion reason is {length:,} characters; at most 5,000" in err
        assert "nothing was changed" in err and "Traceback" not in err
        assert str(client.get_registered_model("fraud-ensemble").aliases["champion"]) == "1"
        assert client.get_model_version("fraud-ensemble", "2").tags == before
        assert client.search_runs([tracker.store.experiment_id], QUERY) == []

    reason = "INC-4711: v1 flags the new merchant category; " + "z" * 4953  # 5,000 exactly
    assert main(["-c", str(cfg_file), "promote", "2", "--reason", reason]) == 0
    assert "v2 is now the champion (previous: v1)" in capsys.readouterr().err
    assert client.get_model_version("fraud-ensemble", "2").tags["gate.reason"] == reason
    (run,) = client.search_runs([tracker.store.experiment_id], QUERY)
    assert run.data.tags["promotion.reason"] == reason  # the run records it, as documented
    history = read_history(client.get_registered_model("fraud-ensemble").tags)
    assert [e["version"] for e in history][-1] == "2"


@pytest.mark.usefixtures("fresh_store")
def test_a_reason_that_is_not_utf8_is_refused_before_anything_changes(
    tmp_path, monkeypatch, capsys
):
    """review46a: `--reason "INC-1 café"` typed in a Latin-1 terminal reaches Python as an
    escape (os.fsdecode of b'\\xe9'); the store's UTF-8 encoding failed with a traceback,
    exit 1 (on 2653b63f after `champion` had moved, on probe46c at the run's creation)."""
    from pipelines.cli import main

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client, name, experiment, version = h.two_gated_versions(tmp_path)
    champion = str(client.get_registered_model(name).aliases["champion"])
    before = client.get_model_version(name, version).tags
    cfg_file = _cli_config(tmp_path)
    capsys.readouterr()
    reason = os.fsdecode(b"INC-1 caf\xe9")

    code = main(["-c", str(cfg_file), "promote", version, "--reason", reason])

    err = capsys.readouterr().err
    assert code == 2, err
    assert "the promotion reason is not UTF-8 text (character 10 is the byte 0xe9" in err
    assert "nothing was changed" in err and "Traceback" not in err
    assert str(client.get_registered_model(name).aliases["champion"]) == champion
    assert client.get_model_version(name, version).tags == before
    assert client.search_runs([experiment], QUERY) == []
