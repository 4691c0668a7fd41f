"""The one place fraud_app reads environment variables.

FRAUD_APP_SPARK_MASTER   default Spark master when neither config nor CLI sets one
FRAUD_APP_LOG_LEVEL      CLI log level (default INFO)
MLFLOW_TRACKING_URI      honoured by the tracking module when the config sets none
MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT  set to true by the CLI unless given (see
                         keep_mlflow_off_stdout)
"""

from __future__ import annotations

import os
import shutil
import subprocess

from fraud_app.errors import EnvironmentSetupError


def spark_master_default() -> str | None:
    return os.environ.get("FRAUD_APP_SPARK_MASTER") or None


def launched_by_spark_submit() -> bool:
    """True when spark-submit started this Python driver (its JVM gateway is already up)."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def log_level() -> str:
    return os.environ.get("FRAUD_APP_LOG_LEVEL", "INFO").upper()


def mlflow_tracking_uri() -> str | None:
    return os.environ.get("MLFLOW_TRACKING_URI") or None


def keep_mlflow_off_stdout() -> None:
    """With a tracking server (http://), MLflow writes "View run ... at: <url>" lines to
    stdout at the end of every run, into the JSON `score`, `evaluate`, `models --json` and
    `promote` print for a scheduler to parse. The CLI turns that off (an explicit value of
    the variable wins); the run is named in the log lines on stderr instead."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def java_version() -> str:
    """The `java -version` banner, or raise with install instructions."""
    java = (
        os.path.join(os.environ["JAVA_HOME"], "bin", "java")
        if os.environ.get("JAVA_HOME")
        else shutil.which("java")
    )
    if not java or not os.path.exists(java):
        raise EnvironmentSetupError(
            "Java 17 is required by Spark but no `java` was found on PATH or in JAVA_HOME. "
            "Install it, e.g. `sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or "
            "`brew install openjdk@17` (macOS), then retry."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    return (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "unknown"


def python_env_for_spark() -> dict[str, str]:
    """Environment Spark needs so that workers run this interpreter and bind loopback locally."""
    import sys

    env = {
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "PYSPARK_DRIVER_PYTHON": os.environ.get("PYSPARK_DRIVER_PYTHON", sys.executable),
    }
    if "SPARK_LOCAL_IP" not in os.environ:
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return env
