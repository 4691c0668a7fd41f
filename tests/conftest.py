"""Fixtures shared by every test package.

`spark`: ONE local[2] SparkSession per test process (starting one costs ~8 s), configured
through fraud_app.spark.session.get_spark so tests see the app's settings. Tests that use
it are marked `@pytest.mark.spark`. Its JVM compiles with C1 only (TEST_JVM_OPTIONS).

`fresh_store`: <tmp_path>/mlflow.db, a new empty MLflow sqlite store copied from one migrated
once per test process (`mlflow_template`; tests/mlflow_store.py says why and what is checked).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.mlflow_store import StoreTemplate, make_template

# The tests' driver JVM runs hundreds of small jobs over ever-different queries on tiny
# data: HotSpot's C2 compiler spends more CPU compiling that code than its faster code wins
# back. C1 only: -10 % to -19 % CPU on the features and ETL tests (docs/BENCHMARKS.md,
# "Test-suite time (session 23, helper ci23)"); the JIT tier changes no result (strict
# floating point since JDK 17). Given as spark.driver.defaultJavaOptions, which Spark puts
# before spark.driver.extraJavaOptions: the app's own LOCAL_DRIVER_JAVA_OPTIONS still
# reach the JVM through get_spark, as tests/fraud_app/spark/test_session.py checks.
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from fraud_app.spark.session import get_spark

    session = get_spark(
        "local[2]",
        "fraud-app-tests",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "1g",
            "spark.driver.defaultJavaOptions": TEST_JVM_OPTIONS,
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> StoreTemplate:
    return make_template(tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture
def fresh_store(mlflow_template, tmp_path) -> Path:
    """<tmp_path>/mlflow.db: the embedded store of a config whose paths.root is tmp_path."""
    return mlflow_template.copy_to(tmp_path)
