"""Fixtures shared by every test package.

`spark`: ONE local[2] SparkSession for the whole test run (starting one costs ~8 s),
configured through fraud_app.spark.session.get_spark so tests see the app's settings.
Tests that use it are marked `@pytest.mark.spark`.
"""

from __future__ import annotations

import os
import sys

import pytest


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
        },
    )
    yield session
    session.stop()
