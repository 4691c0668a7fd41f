"""The Spark version fraud-app runs on is checked before the JVM starts: an older Spark
named in one line (fraud_app.spark.versions), not pyspark 4's `'JavaPackage' object is not
callable` from a Spark 3.5 SPARK_HOME (measured, docs/PROBES.md session 39)."""

from __future__ import annotations

import json
import logging

import pyspark
import pytest

from fraud_app.errors import EnvironmentSetupError
from fraud_app.spark.versions import (
    MIN_SPARK,
    check_before_start,
    check_session,
    major_minor,
    spark_home_version,
)
from tests.pipelines.before_spark import one_error_before_spark


def _spark_home(tmp_path, version: str):
    """The layout of a Spark installation's jars (a distribution's, or pip's pyspark/)."""
    jars = tmp_path / f"spark-{version}" / "jars"
    jars.mkdir(parents=True)
    for name in (f"spark-core_2.13-{version}.jar", f"spark-sql_2.13-{version}.jar", "py4j.jar"):
        (jars / name).write_bytes(b"")
    return str(jars.parent)


@pytest.mark.parametrize(
    "text, want",
    [("4.3.0", (4, 3)), ("4.1.0.dev1", (4, 1)), ("3.5.1-amzn-0", (3, 5)), ("10.0", (10, 0))],
)
def test_versions_read(text, want):
    assert major_minor(text) == want


def test_the_installed_pyspark_and_its_jars_pass():
    home = pyspark.__path__[0]  # pip's pyspark is a SPARK_HOME too (its jars/)
    assert spark_home_version(home) == pyspark.__version__
    check_before_start(pyspark.__version__, home)
    check_before_start(pyspark.__version__, None)


def test_an_older_pyspark_is_named(tmp_path):
    with pytest.raises(EnvironmentSetupError) as err:
        check_before_start("3.5.9", None)
    assert str(err.value) == (
        "this Spark is 3.5.9 (the pyspark this Python imports); fraud-app needs Spark >= "
        f"{MIN_SPARK[0]}.{MIN_SPARK[1]} (tested: 4.0.5, 4.1.4, 4.2.1, 4.3.0; docs/DEPLOY.md "
        "section 6)"
    )


def test_an_older_spark_home_is_named_before_the_jvm_starts(tmp_path):
    home = _spark_home(tmp_path, "3.5.1-amzn-0")
    with pytest.raises(
        EnvironmentSetupError, match=rf"this Spark is 3\.5\.1-amzn-0 \(SPARK_HOME={home}\)"
    ):
        check_before_start(pyspark.__version__, home)


def test_a_different_supported_spark_home_warns(tmp_path, caplog):
    home = _spark_home(tmp_path, "4.0.5" if major_minor(pyspark.__version__) != (4, 0) else "4.1.4")
    with caplog.at_level(logging.WARNING, logger="fraud_app.spark.versions"):
        check_before_start(pyspark.__version__, home)
    assert "Spark supports only matching versions" in caplog.text


def test_a_folder_without_spark_jars_is_left_to_spark(tmp_path):
    assert spark_home_version(str(tmp_path)) is None
    check_before_start(pyspark.__version__, str(tmp_path))


@pytest.mark.spark
def test_the_running_session_passes(spark):
    check_session(spark)


def test_the_cli_stops_before_spark_on_an_older_spark_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_HOME", _spark_home(tmp_path, "3.5.9"))
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"paths": {"root": str(tmp_path / "root")},
                                  "tracking": {"enabled": False}}))  # fmt: skip
    one_error_before_spark(config, "etl", "this Spark is 3.5.9 (SPARK_HOME=")
