"""A misspelt Spark setting in spark.conf is refused before the JVM starts, naming the
setting Spark knows; legitimate custom keys (Hadoop, executor environment, Kubernetes,
YARN, catalogs, plugins) pass (fraud_app.spark.conf_keys). Read from the real Spark jars.
Through the CLI, before any JVM: tests/pipelines/test_cli_errors.py."""

from __future__ import annotations

import logging

import pytest

from fraud_app.errors import ConfigError
from fraud_app.spark.conf_keys import check_conf_keys, jars_dir, known_keys, unknown_near


@pytest.mark.parametrize(
    "typo, meant",
    [
        ("spark.sql.shuffle.partiton", "spark.sql.shuffle.partitions"),
        ("spark.executor.memmory", "spark.executor.memory"),
        ("spark.ui.enable", "spark.ui.enabled"),
        ("spark.dynamicAllocaton.enabled", "spark.dynamicAllocation.enabled"),
        ("spark.sql.Shuffle.Partitions", "spark.sql.shuffle.partitions"),  # keys are case-sensitive
        ("spark.task.cpu", "spark.task.cpus"),
    ],
)
def test_a_near_miss_of_a_spark_setting_is_named(typo, meant):
    # Spark accepted it and ran with the default (200 shuffle partitions, ...) without a word
    assert unknown_near({typo: "4"}) == {typo: meant}


@pytest.mark.parametrize(
    "key",
    [
        "spark.sql.shuffle.partitions",
        "spark.scheduler.barrier.maxConcurrentTasksCheck.interval",
        "spark.hadoop.fs.s3a.endpoint",
        "spark.hadoop.fs.s3a.connection.timeout",
        "spark.executorEnv.PYSPARK_PYTHON",
        "spark.kubernetes.driver.label.team",
        "spark.kubernetes.executor.podNamePrefix",
        "spark.yarn.appMasterEnv.FOO",
        "spark.sql.catalog.my_catalog",
        "spark.sql.catalog.my_catalog.type",
        "spark.sql.hive.metastore.version",
        "spark.driver.resource.gpu.amount",
        "spark.metrics.conf.*.sink.prometheusServlet.class",
        "spark.rapids.sql.enabled",
        "spark.delta.logStore.class",
        "spark.databricks.delta.retentionDurationCheck.enabled",
        "spark.openlineage.transport.url",
        "spark.sql.iceberg.handle-timestamp-without-timezone",
        "fs.s3a.endpoint",  # outside spark.*: the session's Hadoop configuration
    ],
)
def test_spark_settings_and_custom_keys_pass(key):
    assert unknown_near({key: "x"}) == {}


def test_the_error_lists_every_typo(caplog):
    with pytest.raises(ConfigError) as info:
        check_conf_keys({"spark.sql.shuffle.partiton": "4", "spark.ui.enable": "false",
                         "spark.ui.enabled": "false", "spark.rapids.sql.enabled": "true"})  # fmt: skip
    assert str(info.value).startswith(
        "spark.conf: 2 key(s) Spark does not know, each a near miss of a setting it reads: "
        "'spark.sql.shuffle.partiton': did you mean 'spark.sql.shuffle.partitions'?; "
        "'spark.ui.enable': did you mean 'spark.ui.enabled'? Spark ignores a key"
    )
    with caplog.at_level(logging.INFO, logger="fraud_app.spark.conf_keys"):
        check_conf_keys({"spark.rapids.sql.enabled": "true"})
    assert "'spark.rapids.sql.enabled' is not a setting of this Spark; passed on" in caplog.text


def test_without_readable_jars_nothing_is_checked(tmp_path):
    (tmp_path / "spark-core_2.13-9.9.jar").write_text("not a zip")
    assert unknown_near({"spark.sql.shuffle.partiton": "4"}, tmp_path) == {}
    assert len(known_keys(jars_dir())[0]) > 1000  # the real jars: Spark 4's ~1,800 keys
