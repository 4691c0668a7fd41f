"""The one place fraud_app reads (and sets) environment variables.

`VARIABLES` lists every one, with its meaning and default: `fraud-app --help` prints their
names from it, README's table describes each. A value that cannot be right is a ConfigError
naming the variable, raised where the value is read (FRAUD_APP_LOG_LEVEL by the CLI,
FRAUD_APP_SPARK_MASTER by the session factory, the MLFLOW_HTTP_* numbers here). dlcore reads
its own (DLCORE_*) in dlcore/settings.py; it never imports fraud_app.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from fraud_app.errors import ConfigError, EnvironmentSetupError


@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str
    default: str


VARIABLES = (
    Variable("FRAUD_APP_SPARK_MASTER", "Spark master when neither config nor --master sets one",
             "local[*]"),
    Variable("FRAUD_APP_LOG_LEVEL", "CLI log level (DEBUG, INFO, WARNING or WARN, ERROR, CRITICAL; any case)", "INFO"),
    Variable("FRAUD_APP_PROGRESS_S", "seconds of Spark jobs without a log line before the "
             "CLI logs their progress (0 = never)", "60"),
    Variable("MLFLOW_TRACKING_URI", "tracking store when tracking.uri is not set",
             "sqlite under paths.root"),
    Variable("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "MLflow's; the CLI sets it unless set",
             "true (CLI)"),
    Variable("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLflow's; seconds per request (int)",
             "tracking.connect_timeout_s"),
    Variable("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLflow's; retries per request (int)", "1"),
    Variable("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLflow's; retry back-off (number)", "1"),
    Variable("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "MLflow's; progress bars on stdout",
             "false"),
    Variable("SPARK_LOCAL_IP", "address Spark and the training workers bind (executors "
             "read it too)", "127.0.0.1 (local)"),
    Variable("PYSPARK_PYTHON", "Python of Spark's workers", "this interpreter"),
    Variable("PYSPARK_DRIVER_PYTHON", "Python of Spark's driver", "this interpreter"),
    Variable("PYSPARK_GATEWAY_PORT", "set by spark-submit: its JVM is already up", "unset"),
    Variable("JAVA_HOME", "the Java that runs Spark", "`java` on PATH"),
    Variable("SPARK_HOME", "the Spark whose jars list the settings spark.conf is checked "
             "against (spark-submit sets it)", "pyspark's own"),
    Variable("SPARK_CONF_DIR", "Spark's; the folder of the spark-defaults.conf its launcher "
             "loads (read to fill in only the settings that file leaves unset)",
             "$SPARK_HOME/conf"),
    Variable("SPARK_LOCAL_DIRS", "Spark's; its scratch folders, taken before spark.local.dir "
             "(read only to name a full one)", "spark.local.dir, else /tmp"),
    Variable("SPARK_REMOTE", "PySpark's Spark Connect URL: set, the CLI stops (its steps "
             "need a classic session)", "unset"),
)  # fmt: skip
NAMES = frozenset(v.name for v in VARIABLES)


def _get(name: str, default: str | None = None) -> str | None:
    """The only read of os.environ in fraud_app (the names are listed in VARIABLES)."""
    if name not in NAMES:
        raise KeyError(f"{name} is not in fraud_app.settings.VARIABLES; add it there first")
    return os.environ.get(name, default)


def unread_variables() -> list[str]:
    """One line for each FRAUD_APP_* variable set in the environment that fraud-app does not
    read: `FRAUD_APP_LOGLEVEL=DEBUG` (or `FRAUD_APP_TRAINING_EPOCHS=3`, as other tools take
    config keys) ran on the defaults without a word. The CLI logs them as WARNINGs."""
    ours = sorted(n for n in NAMES if n.startswith("FRAUD_APP_"))
    lines = []
    # any case: environment names are case-sensitive here, so `fraud_app_log_level` is unread
    unread = (n for n in os.environ if n.upper().startswith("FRAUD_APP_") and n not in NAMES)
    for name in sorted(unread):
        close = difflib.get_close_matches(name.upper(), ours, n=1, cutoff=0.8)
        hint = f"did you mean {close[0]}? " if close else ""
        lines.append(
            f"environment variable {name} is not one fraud-app reads, so it changes nothing "
            f"({hint}fraud-app reads {', '.join(ours)}; config keys are set in the config "
            "file or by the command's flags, not in the environment)"
        )
    return lines


def spark_master_default() -> str | None:
    return _get("FRAUD_APP_SPARK_MASTER") or None


def launched_by_spark_submit() -> bool:
    """True when spark-submit started this Python driver (its JVM gateway is already up)."""
    return bool(_get("PYSPARK_GATEWAY_PORT"))


def spark_home() -> str | None:
    return _get("SPARK_HOME") or None


def spark_remote() -> str | None:
    """PySpark's SPARK_REMOTE (a Spark Connect URL, which may hold a token), None when unset."""
    return _get("SPARK_REMOTE") or None


def spark_conf_dir() -> str | None:
    return _get("SPARK_CONF_DIR") or None


def spark_local_dir() -> str | None:
    """The first of SPARK_LOCAL_DIRS (Spark puts its scratch files there before any
    spark.local.dir), None when unset."""
    value = _get("SPARK_LOCAL_DIRS") or ""
    return value.split(",")[0] or None


def log_level() -> str:
    """FRAUD_APP_LOG_LEVEL as written (configure_logging reads it in any case, and an error
    quotes what the user wrote: `chatty` was quoted as 'CHATTY'), else INFO."""
    return _get("FRAUD_APP_LOG_LEVEL") or "INFO"


def progress_interval_s() -> float:
    """FRAUD_APP_PROGRESS_S: seconds (>= 0) of busy Spark without a log line before the CLI
    logs a progress line (fraud_app.spark.progress); 0 turns the lines off."""
    raw = (_get("FRAUD_APP_PROGRESS_S") or "").strip()
    if not raw:
        return 60.0
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise ConfigError(
            f"environment variable FRAUD_APP_PROGRESS_S is {raw!r}; expected a number of "
            "seconds >= 0 (0 turns the Spark progress lines off)"
        )
    return value


def mlflow_tracking_uri() -> str | None:
    return _get("MLFLOW_TRACKING_URI") or None


def spark_local_ip() -> str:
    """SPARK_LOCAL_IP of this process ("" when unset); on an executor, the executor's."""
    return _get("SPARK_LOCAL_IP") or ""


# MLflow's HTTP settings the user exported win over ours: read once, at import (afterwards
# the process's environment holds ours). name -> (our value, or None for the timeout; the
# type a user's value must parse as)
_MLFLOW_HTTP = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": (None, int),
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": ("1", int),
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": ("1", float),
    # MLflow draws tqdm bars for artifact transfers; the library must not print.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": ("false", str),
}
_MLFLOW_USER_SET = {name: _get(name) for name in _MLFLOW_HTTP}


def bound_mlflow_http_waits(timeout_s: float) -> None:
    """MLflow's REST client retries 7 times with exponential back-off by default: minutes.
    Ours: one retry, `timeout_s` per request; a value the user exported stays (ConfigError
    when it is not a number: MLflow failed on it inside its first request)."""
    for name, (ours, kind) in _MLFLOW_HTTP.items():
        user = _MLFLOW_USER_SET[name]
        if user is None:
            os.environ[name] = str(max(1, round(timeout_s))) if ours is None else ours
            continue
        try:
            kind(user)
        except ValueError:
            raise ConfigError(
                f"environment variable {name} is {user!r}; expected "
                f"{'an integer' if kind is int else 'a number'}. Fix or unset it"
            ) from None


def mlflow_request_timeout() -> tuple[str, str]:
    """(MLflow's per-request deadline in seconds, the setting it comes from): the user's
    MLFLOW_HTTP_REQUEST_TIMEOUT, else tracking.connect_timeout_s (bound_mlflow_http_waits)."""
    if _MLFLOW_USER_SET["MLFLOW_HTTP_REQUEST_TIMEOUT"] is not None:
        return _MLFLOW_USER_SET["MLFLOW_HTTP_REQUEST_TIMEOUT"], "MLFLOW_HTTP_REQUEST_TIMEOUT"
    return os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "?"), "tracking.connect_timeout_s"


def mlflow_request_deadline(request_deadline_s: float | None) -> tuple[float, str]:
    """(The total deadline of one MLflow request in seconds, where it comes from):
    tracking.request_deadline_s, else (MLFLOW_HTTP_REQUEST_MAX_RETRIES + 2) x the
    per-request timeout, as set by bound_mlflow_http_waits (or the user)."""
    if request_deadline_s is not None:
        return request_deadline_s, "tracking.request_deadline_s"
    timeout, source = mlflow_request_timeout()
    retries = int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"))
    return (max(retries, 0) + 2) * float(timeout), (
        f"tracking.request_deadline_s unset: {source} {timeout}s x "
        f"(MLFLOW_HTTP_REQUEST_MAX_RETRIES {retries} + 2)"
    )


@contextlib.contextmanager
def mlflow_tracking_uri_kept() -> Iterator[None]:
    """MLflow exports the URI it is given as MLFLOW_TRACKING_URI, which mlflow_tracking_uri()
    reads as the user's choice: a later config with another paths.root (a notebook, a test)
    would then write to that store. The process keeps the user's value (or none)."""
    exported = _get("MLFLOW_TRACKING_URI")
    try:
        yield
    finally:
        if exported is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = exported


def export(values: dict[str, str], *, keep_set: bool = False) -> None:
    """Set variables of VARIABLES for this process and the Spark processes it starts (the
    JVM and its Python workers inherit them); keep_set: leave those already set."""
    for name, value in values.items():
        if name not in NAMES:
            raise KeyError(f"{name} is not in fraud_app.settings.VARIABLES; add it there first")
        if keep_set:
            os.environ.setdefault(name, value)
        else:
            os.environ[name] = value


def keep_mlflow_off_stdout() -> None:
    """With a tracking server (http://), MLflow writes "View run ... at: <url>" lines to
    stdout at the end of every run, into the JSON `score`, `evaluate`, `models --json` and
    `promote` print for a scheduler to parse. The CLI turns that off (an explicit value of
    the variable wins); the run is named in the log lines on stderr instead."""
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def java_version() -> str:
    """The `java -version` banner, or raise with install instructions."""
    java_home = _get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise EnvironmentSetupError(
            "Java 17 is required by Spark but no `java` was found on PATH or in JAVA_HOME. "
            "Install it, e.g. `sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or "
            "`brew install openjdk@17` (macOS), then retry."
        )
    out = subprocess.run(
        [java, "-version"],
        capture_output=True,
        text=True,
        timeout=30,
        encoding="utf-8",
        errors="replace",
    )
    return (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "unknown"


def python_env_for_spark() -> dict[str, str]:
    """Environment Spark needs so that workers run this interpreter and bind loopback locally."""
    import sys

    env = {
        "PYSPARK_PYTHON": _get("PYSPARK_PYTHON", sys.executable),
        "PYSPARK_DRIVER_PYTHON": _get("PYSPARK_DRIVER_PYTHON", sys.executable),
    }
    if _get("SPARK_LOCAL_IP") is None:
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return env
