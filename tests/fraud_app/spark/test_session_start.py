"""A Spark that does not start is one line that says why: the Java exception, not Py4J's
`An error occurred while calling None.org...SparkSession.`, and for a standalone master
that never answers, that no master answered at that address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fraud_app.spark.session import startup_failure

ROOT = Path(__file__).resolve().parents[3]
# str() of the Py4JJavaError that SparkSession.builder.getOrCreate() raised for
# spark://127.0.0.1:1 (pyspark 4.3.0), cut after its first stack frames
STOPPED = """An error occurred while calling None.org.apache.spark.sql.classic.SparkSession.
: java.lang.IllegalStateException: Cannot call methods on a stopped SparkContext.
This stopped SparkContext was created at:

org.apache.spark.api.java.JavaSparkContext.<init>(JavaSparkContext.scala:59)
"""


def test_an_unanswered_standalone_master_is_said_in_words():
    line = startup_failure("spark://10.0.0.9:7077", RuntimeError(STOPPED))
    assert line.startswith(
        "Spark could not start on master 'spark://10.0.0.9:7077': no master answered at "
        "10.0.0.9:7077 (Spark gave up registering after its retries, about a minute): is the "
        "master running there"
    )
    assert "An error occurred while calling" not in line and "\n" not in line


def test_other_failures_quote_the_java_exception():
    text = STOPPED.replace("IllegalStateException: Cannot call methods on a stopped", "X: a")
    line = startup_failure("yarn", RuntimeError(text))
    assert line.startswith("Spark could not start on master 'yarn': java.lang.X: a SparkContext.")
    plain = startup_failure("local[2]", RuntimeError("Java gateway process exited\nmore"))
    assert plain.startswith("Spark could not start on master 'local[2]': Java gateway process")
    assert startup_failure("local", RuntimeError()).endswith(
        "'local': RuntimeError. Check spark.master / --master and spark.conf in the config"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_cli_names_a_master_nobody_runs(tmp_path):
    """Real Spark (~70 s: Spark's own registration retries) against a closed port."""
    master = f"spark://127.0.0.1:{_free_port()}"
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\ntracking:\n  enabled: false\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "-c", str(config), "--master", master, "features"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: Spark could not start on master '{master}': no master answered")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("spark.driver.host", "no-such-host.invalid",
         "spark.conf spark.driver.host 'no-such-host.invalid' does not resolve on this machine"),
        ("spark.driver.bindAddress", "192.0.2.1",
         "spark.conf spark.driver.bindAddress '192.0.2.1' is not an address of this machine"),
    ],
)  # fmt: skip
def test_a_driver_address_spark_cannot_use_is_one_line_before_the_jvm(
    tmp_path, key, value, message
):
    # it was a 50-line JVM trace (UnresolvedAddressException) a minute later, then our line
    config = tmp_path / "c.yaml"
    config.write_text(f"paths:\n  root: {tmp_path}\nspark:\n  conf:\n    {key}: {value}\n")
    (tmp_path / "canonical").mkdir()
    probe = (
        "import sys; from pipelines.cli import main; rc = main(sys.argv[1:]); "
        "from pyspark import SparkContext; print(rc, SparkContext._active_spark_context is None)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe, "-c", str(config), "features"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.stdout.split() == ["2", "True"], done.stdout + done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {message}"), done.stderr
    assert "\tat " not in done.stderr
