"""The `spark.conf` section as users write it in YAML: numbers and booleans are settings too."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError


def test_numbers_and_booleans_are_spark_settings(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "spark:\n  conf:\n    spark.sql.shuffle.partitions: 4\n    spark.ui.enabled: false\n"
        "    spark.memory.fraction: 0.5\n    spark.driver.memory: 2g\n"
    )
    # refused before: "spark.conf.spark.sql.shuffle.partitions: Input should be a valid string"
    assert load_config(config).spark.conf == {
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.memory.fraction": "0.5",
        "spark.driver.memory": "2g",
    }


def test_other_values_still_name_the_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("spark:\n  conf:\n    spark.jars: [a.jar, b.jar]\n")
    with pytest.raises(
        ConfigError, match=r"spark\.conf\.spark\.jars: Input should be a valid string"
    ):
        load_config(config)


@pytest.mark.parametrize("key, owner", [("spark.master", "spark.master"),
                                        ("spark.app.name", "spark.app_name")])  # fmt: skip
def test_the_master_and_app_name_are_not_spark_conf_entries(tmp_path, key, owner):
    # spark.conf is applied after the master: 'spark.master: local[4]' there overrode
    # spark.master / --master (past the master check, with the log naming the other one)
    config = tmp_path / "c.yaml"
    config.write_text(f"spark:\n  master: local[2]\n  conf:\n    {key}: x\n")
    with pytest.raises(ConfigError, match=rf"'{key}' is set by the config key {owner} "):
        load_config(config)


def test_other_keys_pass_through_to_spark(tmp_path):
    # non-spark.* keys reach the SQL session's Hadoop configuration (e.g. fs.s3a.*)
    config = tmp_path / "c.yaml"
    config.write_text("spark:\n  conf:\n    fs.s3a.endpoint: http://minio:9000\n")
    assert load_config(config).spark.conf == {"fs.s3a.endpoint": "http://minio:9000"}


@pytest.mark.parametrize("master", ["local[0]", "local[0,3]", "local-cluster[0,1,1024]"])
def test_a_master_of_zero_threads_is_refused_before_spark_starts(master, capsys):
    # before: the form passed, then Spark printed a JVM stack trace ("Asked to run locally
    # with 0 threads") before the error line
    from pipelines.cli import main

    assert main(["--master", master, "train"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: spark.master {master!r} asks for 0 threads (or workers, cores); expected "
        "local[N] with N >= 1, local[*], or local-cluster[W,C,MB] with W, C >= 1\n"
    )
