"""A FRAUD_APP_* variable fraud-app does not read is named, not silently ignored (session 47
probes): `FRAUD_APP_LOGLEVEL=DEBUG` ran at INFO without a word."""

from __future__ import annotations

import logging

from pipelines.cli import main


def test_an_unread_fraud_app_variable_is_named(tmp_path, monkeypatch, capsys, caplog) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"paths: {{root: {tmp_path / 'work'}}}\ntracking: {{enabled: false}}\n")
    monkeypatch.setenv("FRAUD_APP_LOGLEVEL", "DEBUG")
    monkeypatch.setenv("FRAUD_APP_TRAINING_EPOCHS", "3")
    monkeypatch.setenv("FRAUD_APP_LOG_LEVEL", "warning")  # a known one: not named
    # generate --rows 0 stops before Spark starts (a ConfigError), after the warnings
    caplog.set_level(logging.WARNING)
    assert main(["generate", "-c", str(config), "--rows", "0"]) == 2
    assert "generate.n_transactions" in capsys.readouterr().err
    err = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert (
        "environment variable FRAUD_APP_LOGLEVEL is not one fraud-app reads, so it changes "
        "nothing (did you mean FRAUD_APP_LOG_LEVEL? fraud-app reads FRAUD_APP_LOG_LEVEL, "
        "FRAUD_APP_PROGRESS_S, FRAUD_APP_SPARK_MASTER; config keys are set in the config file"
    ) in err
    assert "environment variable FRAUD_APP_TRAINING_EPOCHS is not one fraud-app reads" in err
    assert "FRAUD_APP_LOG_LEVEL is not one" not in err
    assert err.count("FRAUD_APP_LOGLEVEL is not one") == 1  # once per command


def test_an_unread_variable_in_lower_case_is_named(tmp_path, monkeypatch, caplog) -> None:
    # review47a: `fraud_app_log_level=DEBUG` (names are case-sensitive) was silent
    config = tmp_path / "c.yaml"
    config.write_text(f"paths: {{root: {tmp_path / 'work'}}}\ntracking: {{enabled: false}}\n")
    monkeypatch.setenv("fraud_app_log_level", "DEBUG")
    caplog.set_level(logging.WARNING)
    assert main(["generate", "-c", str(config), "--rows", "0"]) == 2
    err = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert (
        "environment variable fraud_app_log_level is not one fraud-app reads, so it changes "
        "nothing (did you mean FRAUD_APP_LOG_LEVEL?"
    ) in err
