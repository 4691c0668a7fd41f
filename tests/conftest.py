"""Fixtures shared by every test package.

`spark`: ONE local[2] SparkSession for the whole test run (starting one costs ~8 s),
configured through fraud_app.spark.session.get_spark so tests see the app's settings.
Tests that use it are marked `@pytest.mark.spark`.

`fresh_store`: <tmp_path>/mlflow.db, a new empty MLflow sqlite store copied from one migrated
once per test process (`mlflow_template`; tests/mlflow_store.py says why and what is checked).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path

import pytest

# The CLI's Spark progress lines (fraud_app.spark.progress) stay off in tests that run CLI
# commands in-process: a slow machine would add INFO lines to the logs they check.
# tests/fraud_app/spark/test_progress.py turns them on for itself.
os.environ.setdefault("FRAUD_APP_PROGRESS_S", "0")

from tests.heavy_files import file_order
from tests.mlflow_store import StoreTemplate, make_template

# The JIT's optimising tier (C2) compiles a method after 3x the JVM's default invocations
# and loop back-edges, in the tests' own JVM only. A test process runs thousands of
# different small queries, so much of the code C2 compiled ran too little afterwards to
# repay it: 31 % of the CPU of 6 Spark test files in one process was JIT compiling (C2 107 s
# of 413 s). With these thresholds, the same 103 tests beside the defaults: 414.7 vs 448.7
# and 403.9 vs 443.6 CPU s, C2 88 vs 123 s (docs/PROBES.md, session 51). C1 only (-XX:TieredStopAtLevel=1) was
# slower (430.6 vs 412.9 s: its code runs the warm driver work ~70 % slower). The tier
# changes no result (Java's arithmetic is strict, JEP 306). SPARK_SUBMIT_OPTS reaches the
# driver JVM beside the app's spark.driver.extraJavaOptions (get_spark's own, which
# tests/fraud_app/spark/test_session.py checks); set only while the JVM starts, so no child
# process of a test inherits it. TESTS_JIT_DEFAULTS=1 leaves the JVM's defaults.
LATE_C2 = (
    "-XX:Tier4InvocationThreshold=15000 -XX:Tier4MinInvocationThreshold=1800 "
    "-XX:Tier4CompileThreshold=45000 -XX:Tier4BackEdgeThreshold=120000"
)


@contextlib.contextmanager
def _jvm_options(extra: str):
    """SPARK_SUBMIT_OPTS with `extra` appended while the block runs, then as it was."""
    before = os.environ.get("SPARK_SUBMIT_OPTS")
    if os.environ.get("TESTS_JIT_DEFAULTS") != "1":
        os.environ["SPARK_SUBMIT_OPTS"] = f"{before} {extra}" if before else extra
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SPARK_SUBMIT_OPTS", None)
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = before


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from fraud_app.spark.session import get_spark

    with _jvm_options(LATE_C2):
        session = _session(get_spark)
    yield session
    session.stop()


def _session(get_spark):
    return get_spark(
        "local[2]",
        "fraud-app-tests",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "1g",
            # Interpreted expressions, no generated Java: the tests run thousands of small
            # queries on tens to hundreds of rows, each one's code compiled once and run for
            # a few rows. The same results by Spark's contract (its own suites run both
            # modes); the app's sessions keep code generation (the CLI, notebooks and
            # subprocess tests start their own). 26 tests of 3 Spark-heavy files, one
            # process: 250.7 -> 209.2 s CPU (docs/TESTING.md, session 34).
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            # The plan text each SQL execution and each adaptive re-plan posts for the UI
            # (SQLExecution, AdaptiveSparkPlanExec.onUpdatePlan) as "simple", not the
            # default "formatted": formatting numbers every operator and lists its inputs
            # (ExplainUtils.processPlan), ~6 % of the driver JVM's samples in an ETL test
            # file (docs/PROBES.md, session 51), for a text no test session shows (the UI
            # is off). Plans and results are the same. The two tests that read that text
            # (test_encoding_broadcast, test_ledger_broadcast) set "formatted" for their query.
            "spark.sql.ui.explainMode": "simple",
        },
    )


# What `pipelines.cli.main()` changes in its process and does not put back (a command
# configures the process it runs in): the root logger's level, filters on the root logger's
# handlers (pytest's own capture handlers, which live for the whole session), the levels of
# the libraries it quiets, MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT; and, once a command
# opened a tracking store (fraud_app.tracking.client), MLflow's tracking and registry URIs
# (its module globals and MLFLOW_REGISTRY_URI), the MLFLOW_HTTP_* waits and the total
# deadline of a request (fraud_app.tracking.http_deadline). Many tests call
# main() in-process (test_version_spellings since session 43); after one, a later test of
# the same worker that counts on caplog to see a library's INFO line (MLflow's, py4j's)
# saw none, one of a scheduler's environment found the variable set, and an
# `mlflow.MlflowClient(uri)` of another store read the registry of the earlier test's
# (deleted) store (review43a).
CLI_ENV = (
    "MLFLOW_TRACKING_URI",  # mlflow.set_tracking_uri sets it too (for subprocesses)
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)


def _mlflow_uris(values: tuple[str | None, str | None] | None = None):
    """MLflow's process-wide tracking and registry URIs (set_tracking_uri / set_registry_uri,
    which fraud_app.tracking.client calls); with `values`: set back to them. Nothing where
    MLflow is not imported."""
    if "mlflow" not in sys.modules:
        return None
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    if values is None:
        return tracking._tracking_uri, registry._registry_uri
    tracking._tracking_uri, registry._registry_uri = values
    return values


@pytest.fixture(autouse=True)
def cli_globals_restored():
    """Puts back after each test what an in-process `main()` changes (CLI_ENV's comment)."""
    from fraud_app.tracking import http_deadline
    from pipelines.cli_logging import PROTOCOL_LOGGERS, QUIET_LOGGERS

    root = logging.getLogger()
    loggers = [logging.getLogger(n) for n in (*QUIET_LOGGERS, *PROTOCOL_LOGGERS)]
    level, levels = root.level, [lg.level for lg in loggers]
    handlers = {h: list(h.filters) for h in root.handlers}
    env = {name: os.environ.get(name) for name in CLI_ENV}
    uris = _mlflow_uris()
    deadline = http_deadline.current()  # the total deadline of MLflow requests
    yield
    http_deadline.restore(deadline)
    _mlflow_uris(uris or (None, None))
    root.setLevel(level)
    for logger, before in zip(loggers, levels, strict=True):
        logger.setLevel(before)
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)  # logging.basicConfig's, where pytest's were not there
    for handler, filters in handlers.items():
        handler.filters[:] = filters
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> StoreTemplate:
    return make_template(tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def fresh_store(mlflow_template, tmp_path) -> Path:
    """<tmp_path>/mlflow.db: the embedded store of a config whose paths.root is tmp_path."""
    return mlflow_template.copy_to(tmp_path)


@pytest.fixture
def kolkata_process():
    """The Python process's own zone (TZ) set to Asia/Kolkata (+05:30), as on a laptop in
    India; the JVM keeps its zone. Restored afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kolkata"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """In an xdist worker: the longest files first (tests/heavy_files.py), the order in
    which `make test` (--no-loadscope-reorder) hands files to its workers. A stable sort:
    each file's tests keep their order. A run without workers keeps pytest's order."""
    if not hasattr(config, "workerinput"):
        return
    order = file_order([item.nodeid for item in items])
    items.sort(key=lambda item: order[item.nodeid.split("::", 1)[0]])
