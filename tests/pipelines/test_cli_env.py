"""Settings read from environment variables are named as such when they are wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_fraud_app_spark_master_names_the_variable(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\n")
    # a process of its own: in this one a test's SparkSession may already be active
    env = {**os.environ, "FRAUD_APP_SPARK_MASTER": "garbage://x",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "pipelines", "-c", str(config), "etl"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    # refused before the JVM starts; it said "spark.master 'garbage://x' ... Set spark.master
    # in the config or pass --master", and the config held no spark.master at all
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "error: FRAUD_APP_SPARK_MASTER 'garbage://x' is not a Spark master URL; expected "
        "local[*], local[N], spark://host:7077, yarn or k8s://https://host:port. Fix or unset "
        "the environment variable FRAUD_APP_SPARK_MASTER, or set spark.master in the config or "
        "pass --master"
    )


def test_a_bad_fraud_app_log_level_names_the_variable(monkeypatch, capsys):
    """One `error:` line and exit 2, as every other config mistake (it was SystemExit's
    exit 1 with a `fraud-app: error:` line of its own)."""
    monkeypatch.setenv("FRAUD_APP_LOG_LEVEL", "chatty")
    assert main(["models"]) == 2
    assert capsys.readouterr().err == (
        "error: environment variable FRAUD_APP_LOG_LEVEL is 'CHATTY'; expected DEBUG, INFO, "
        "WARNING or ERROR\n"
    )
    monkeypatch.delenv("FRAUD_APP_LOG_LEVEL")
    assert main(["--log-level", "loud", "models"]) == 2
    assert capsys.readouterr().err == (
        "error: --log-level is 'loud'; expected DEBUG, INFO, WARNING or ERROR\n"
    )


def test_every_environment_variable_read_is_documented_in_the_readme_and_help(capsys):
    """The variables the two settings modules read (the only modules that read any) are in
    README's table and in `fraud-app --help`, which a scheduler's author reads."""
    import re

    repo = Path(__file__).resolve().parents[2]
    names = set()
    for module in ("fraud_app/settings.py", "dlcore/settings.py"):
        text = (repo / module).read_text()
        names |= set(re.findall(r'environ\.get\("((?:FRAUD_APP|DLCORE|MLFLOW)_[A-Z_]+)"', text))
    assert {"FRAUD_APP_LOG_LEVEL", "DLCORE_BACKEND", "MLFLOW_TRACKING_URI"} <= names
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    readme = (repo / "README.md").read_text()
    assert [n for n in sorted(names) if f"| `{n}` |" not in readme] == []
    assert [n for n in sorted(names) if n not in help_text] == []
    assert "143 SIGTERM" in help_text and "2 a mistake" in help_text
