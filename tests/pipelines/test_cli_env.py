"""Settings read from environment variables are named as such when they are wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.errors import ConfigError
from pipelines.cli import main
from tests.processes import CLI_DEADLINE_S

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_fraud_app_spark_master_names_the_variable(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\n")
    # a process of its own: in this one a test's SparkSession may already be active
    env = {**os.environ, "FRAUD_APP_SPARK_MASTER": "garbage://x",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "pipelines", "-c", str(config), "etl"],
                         capture_output=True, text=True, env=env, timeout=CLI_DEADLINE_S)  # fmt: skip
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
    exit 1 with a `fraud-app: error:` line of its own), quoting the value as written, as
    --log-level's error does (it was upper-cased: 'CHATTY' for `chatty`)."""
    monkeypatch.setenv("FRAUD_APP_LOG_LEVEL", "chatty")
    assert main(["models"]) == 2
    assert capsys.readouterr().err == (
        "error: environment variable FRAUD_APP_LOG_LEVEL is 'chatty'; expected DEBUG, INFO, "
        "WARNING (or WARN), ERROR or CRITICAL (any case)\n"
    )
    monkeypatch.delenv("FRAUD_APP_LOG_LEVEL")
    assert main(["--log-level", "loud", "models"]) == 2
    assert capsys.readouterr().err == (
        "error: --log-level is 'loud'; expected DEBUG, INFO, WARNING (or WARN), ERROR or "
        "CRITICAL (any case)\n"
    )


@pytest.mark.parametrize("level", ["FATAL", "notset", "Level 5", "5", ""])
def test_log_levels_outside_the_documented_set_are_refused(level, capsys):
    # logging.getLevelName took FATAL and NOTSET (a root logger at 0: everything), the
    # help and README named four levels
    from pipelines.cli_logging import configure_logging

    with pytest.raises(ConfigError, match=r"^--log-level is .*; expected DEBUG, INFO"):
        configure_logging(level)


@pytest.mark.parametrize(
    "level, numeric",
    [("debug", 10), ("Info", 20), ("WARN", 30), ("warning", 30), ("ERROR", 40),
     ("critical", 50)],
)  # fmt: skip
def test_the_documented_log_levels_are_accepted_in_any_case(level, numeric):
    import logging

    from pipelines.cli import build_parser
    from pipelines.cli_logging import configure_logging

    before = logging.getLogger().level
    try:
        configure_logging(level)
        assert logging.getLogger().level == numeric
    finally:
        logging.getLogger().setLevel(before)
    help_text = build_parser().format_help()
    assert "DEBUG, INFO, WARNING (or WARN), ERROR or CRITICAL (any case)" in " ".join(
        help_text.split()
    )


def test_every_environment_variable_read_is_documented_in_the_readme_and_help(capsys):
    """The variables the two settings modules read (the only modules that read any) are in
    README's table and in `fraud-app --help`, which a scheduler's author reads."""
    import re

    from fraud_app import settings

    text = (ROOT / "dlcore" / "settings.py").read_text()
    names = set(re.findall(r'environ\.get\("(DLCORE_[A-Z_]+)"', text))
    names |= {v.name for v in settings.VARIABLES}
    assert {"FRAUD_APP_LOG_LEVEL", "DLCORE_BACKEND", "MLFLOW_TRACKING_URI", "SPARK_LOCAL_IP",
            "MLFLOW_HTTP_REQUEST_TIMEOUT"} <= names  # fmt: skip
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    assert [n for n in sorted(names) if f"| `{n}` |" not in readme] == []
    assert [n for n in sorted(names) if n not in help_text] == []
    assert "143 SIGTERM" in help_text and "2 a mistake" in help_text


def test_no_module_but_the_settings_reads_or_sets_the_environment():
    """fraud_app/spark/worker.py (SPARK_LOCAL_IP), fraud_app/tracking/client.py (the MLflow
    variables) and the session factory read and set variables themselves: a variable read
    there was in neither the README nor --help. Every `os.environ` / `os.getenv` /
    `os.putenv` of fraud_app, pipelines and dashboards is in fraud_app/settings.py."""
    import ast

    found = []
    for package in ("fraud_app", "pipelines", "dashboards"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "fraud_app" / "settings.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                name = node.attr if isinstance(node, ast.Attribute) else (
                    node.id if isinstance(node, ast.Name) else None)  # fmt: skip
                if name in ("environ", "getenv", "putenv", "unsetenv"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_an_mlflow_http_setting_that_is_no_number_names_the_variable(tmp_path):
    """MLflow failed on it inside its first request, far from the variable's name."""
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\n")
    (tmp_path / "mlflow.db").touch()  # `models` refuses a store that does not exist first
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_TIMEOUT": "ten",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run([sys.executable, "-m", "pipelines", "-c", str(config), "models"],
                         capture_output=True, text=True, env=env, timeout=CLI_DEADLINE_S)  # fmt: skip
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "error: environment variable MLFLOW_HTTP_REQUEST_TIMEOUT is 'ten'; expected an "
        "integer. Fix or unset it"
    )
