"""`pipelines.cli.main()` called in the test process (test_version_spellings and many
others do) configures that process: the root logger, filters on pytest's own capture
handlers, the quieted libraries' levels, MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT, MLflow's registry
URI (a command that opened a store). Before
tests/conftest.py's `cli_globals_restored` (review43a), the next test of the same worker
inherited them: its caplog saw no INFO line of MLflow (the `mlflow` logger at WARNING and a
filter dropping quiet libraries' INFO on the caplog handler) and its environment held the
variable, and `mlflow.MlflowClient(uri)` of another store read that test's registry. The two tests run in this order in one process (a file goes to one worker)."""

from __future__ import annotations

import logging
import os

import pytest

from pipelines.cli import main

VARIABLE = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
RAN: dict[str, object] = {}


def test_a_command_run_in_process(tmp_path, fresh_store, monkeypatch, capsys):
    import mlflow

    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    RAN["env_before"] = os.environ.get(VARIABLE)
    RAN["mlflow_level"] = logging.getLogger("mlflow").level
    RAN["registry_before"] = mlflow.get_registry_uri()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths: {{root: '{tmp_path}'}}\n")  # the store: fresh_store
    assert main(["-c", str(cfg), "--log-level", "WARNING", "promote", "7"]) == 2
    assert "does not exist in sqlite:" in capsys.readouterr().err  # the store was opened
    assert os.environ.get(VARIABLE) == "true"  # what main() set, for this command
    assert mlflow.get_registry_uri() == f"sqlite:///{fresh_store}"
    RAN["main"] = True


def test_the_next_test_sees_the_process_as_before(caplog):
    if not RAN.get("main"):
        pytest.skip("needs test_a_command_run_in_process run first in this process")
    with caplog.at_level(logging.INFO):
        logging.getLogger("mlflow.store.probe").info("an MLflow INFO line")
    assert [r.getMessage() for r in caplog.records] == ["an MLflow INFO line"]  # before: []
    assert logging.getLogger("mlflow").level == RAN["mlflow_level"]
    assert os.environ.get(VARIABLE) == RAN["env_before"]  # before: 'true'
    import mlflow  # before: the registry of the other test's store, gone with its tmp_path

    assert mlflow.get_registry_uri() == RAN["registry_before"]
