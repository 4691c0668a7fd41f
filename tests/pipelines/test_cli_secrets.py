"""The CLI's lines never show a credential (session 23 probes): its `error:` line for a
config that holds one, any library's log line that quotes a URI with a password, and
the WARNING naming a spark-submit setting that overrides the config's."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.redaction import RedactingFilter
from fraud_app.spark.session import merged_conf
from pipelines.cli import main
from pipelines.cli_logging import configure_logging
from tests.processes import CLI_DEADLINE_S

ROOT = Path(__file__).resolve().parents[2]


def test_the_error_line_of_a_config_mistake_does_not_quote_the_password(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"paths:\n  root: {tmp_path}\ntrackng:\n  uri: https://alice:TYPOPW@h.example\n")
    assert main(["-c", str(cfg), "models", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # stdout carries results only; nothing on an error
    assert err.startswith("error: config file") and "https://***@h.example" in err
    assert "TYPOPW" not in err


def test_a_library_log_line_with_a_uri_password_is_written_redacted(caplog):
    """MLflow's and requests' messages quote the request URL with its user information."""
    configure_logging("INFO")
    try:
        logging.getLogger("some.library").warning(
            "GET %s failed", "https://alice:LIBPW@mlflow.example.com/api/2.0/x?token=QTOK"
        )
    finally:
        for handler in logging.getLogger().handlers:
            for f in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(f)
    assert "LIBPW" not in caplog.text and "QTOK" not in caplog.text
    assert "GET https://***@mlflow.example.com/api/2.0/x?token=*** failed" in caplog.text


def test_a_spark_submit_override_names_the_key_not_the_secrets(caplog):
    key = "spark.hadoop.fs.s3a.secret.key"
    with caplog.at_level(logging.WARNING, logger="fraud_app.spark.session"):
        conf = merged_conf({key: "CONFIGPW", "spark.sql.shuffle.partitions": "3"},
                           {key: "SUBMITPW", "spark.sql.shuffle.partitions": "7"})  # fmt: skip
    assert key not in conf  # spark-submit's value stays in force
    assert "CONFIGPW" not in caplog.text and "SUBMITPW" not in caplog.text
    assert f"spark-submit's {key}=*** wins over spark.conf in the config (***)" in caplog.text
    assert "spark.sql.shuffle.partitions=7 wins over spark.conf in the config (3)" in caplog.text


def test_control_characters_from_the_data_reach_no_terminal(tmp_path, caplog, capsys):
    """A value of a delivery (an amount of `\\x1b[2J...HACKED\\r` quoted in the quarantine
    WARNING of an ETL that rejects every row) or a name in an `error:` line was written as
    it was: the operator's terminal cleared its screen, set its title, rewrote the line.
    Control characters a terminal acts on are written as escapes; tab and newline stay."""
    hostile = "\x1b[2J\x1b]0;pwned\x07\x1b[31mHACKED\r"
    configure_logging("INFO")
    try:
        logging.getLogger("fraud_app.etl.pipeline").warning(
            "ETL: no row reached the canonical table; it is empty (most: non_numeric_amount, "
            "e.g. amount '%s' is not a number)", hostile,
        )  # fmt: skip
    finally:
        for handler in logging.getLogger().handlers:
            for f in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(f)
    # this record only: a test process's other threads (an earlier test's Spark or tracking
    # thread) may log beside it while the root logger is at INFO
    (shown,) = [r.getMessage() for r in caplog.records if r.name == "fraud_app.etl.pipeline"]
    assert "\x1b" not in shown and "\r" not in shown and "\x07" not in shown
    assert "e.g. amount '\\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mHACKED\\x0d' is not" in shown
    capsys.readouterr()
    assert main(["-c", str(tmp_path / f"c{hostile}.yaml"), "models"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert "\x1b" not in line and "\r" not in line and "\\x1b[31mHACKED\\x0d.yaml" in line


def test_a_bugs_traceback_is_written_redacted_with_exit_1(tmp_path):
    """A bug's traceback (exit 1) was Python's own: an exception quoting a tracking URI
    with its password, or a control sequence from the data, was written as it was."""
    code = (
        "import sys\nimport pipelines.cli as cli\n"
        "def bug(args):\n"
        "    raise RuntimeError('GET https://alice:BUGPW@mlflow.example.com/x failed \\x1b[2J')\n"
        "cli._main = bug\nsys.exit(cli.entry())\n"
    )
    done = subprocess.run([sys.executable, "-c", code, "models"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, timeout=CLI_DEADLINE_S)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback (most recent call last)" in done.stderr
    assert "RuntimeError: GET https://***@mlflow.example.com/x failed \\x1b[2J" in done.stderr
    assert "BUGPW" not in done.stderr and "\x1b" not in done.stderr


@pytest.mark.spark
def test_debug_logs_do_not_carry_py4j_protocol_lines_with_spark_secrets(spark, caplog):
    """`fraud-app --log-level DEBUG` wrote py4j's protocol trace: `set` /
    `spark.authenticate.secret` / `s<the secret>` as the session started, and the bare
    value (`Answer received: !ys<the secret>`) when it was read back (sec39 probe)."""
    root, py4j = logging.getLogger(), logging.getLogger("py4j")
    levels = root.level, py4j.level
    configure_logging("DEBUG")
    try:
        with caplog.at_level(logging.DEBUG):
            spark.conf.set("spark.fraud.probe.secret", "PY4JPW")
            assert spark.conf.get("spark.fraud.probe.secret") == "PY4JPW"
        assert logging.getLogger("fraud_app").isEnabledFor(logging.DEBUG)  # ours still are
    finally:
        spark.conf.unset("spark.fraud.probe.secret")
        root.setLevel(levels[0])
        py4j.setLevel(levels[1])
        for handler in root.handlers:
            for f in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(f)
    assert "PY4JPW" not in caplog.text  # before: 2 py4j.clientserver DEBUG records
