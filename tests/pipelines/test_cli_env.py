"""Settings read from environment variables are named as such when they are wrong."""

from __future__ import annotations

import pytest

from pipelines.cli import main


def test_a_bad_fraud_app_spark_master_names_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FRAUD_APP_SPARK_MASTER", "garbage://x")
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\n")
    # refused before the JVM starts; it said "spark.master 'garbage://x' ... Set spark.master
    # in the config or pass --master", and the config held no spark.master at all
    assert main(["-c", str(config), "etl"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: FRAUD_APP_SPARK_MASTER 'garbage://x' is not a Spark master URL; expected "
        "local[*], local[N], spark://host:7077, yarn or k8s://https://host:port. Fix or unset "
        "the environment variable FRAUD_APP_SPARK_MASTER, or set spark.master in the config or "
        "pass --master"
    )


def test_a_bad_fraud_app_log_level_names_the_variable(monkeypatch):
    monkeypatch.setenv("FRAUD_APP_LOG_LEVEL", "chatty")
    with pytest.raises(SystemExit, match=r"environment variable FRAUD_APP_LOG_LEVEL 'CHATTY'; "
                       r"use DEBUG, INFO or WARNING"):  # fmt: skip
        main(["models"])
