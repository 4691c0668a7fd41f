"""The tables the app's sessions write are private to their user: 0600 files, 0700 folders.

Spark writes through Hadoop's local file system, which gives a new file 0666 and a new
folder 0777 less Hadoop's umask (022 by default), whatever the process's umask: score
partitions (card ids) were 0644 in 0755 folders, readable by every local user wherever
paths.root let them in (a root the operator made with umask 022)."""

from __future__ import annotations

import stat

import pytest

from fraud_app.spark.session import DEFAULT_CONF, merged_conf

pytestmark = pytest.mark.spark
KEY = "spark.hadoop.fs.permissions.umask-mode"


def test_a_partitioned_table_is_written_private(spark, tmp_path):
    rows = [("4111111111111111", 0.9, "2024-01-30"), ("4000000000000002", 0.1, "2024-01-31")]
    df = spark.createDataFrame(rows, "card_id string, score double, event_date string")
    df.write.partitionBy("event_date").parquet(str(tmp_path / "scores"))
    modes = {
        p.relative_to(tmp_path).as_posix(): (p.is_dir(), stat.S_IMODE(p.stat().st_mode))
        for p in [tmp_path / "scores", *(tmp_path / "scores").rglob("*")]
    }
    assert len(modes) >= 7  # the table, 2 dates, 2 parts, _SUCCESS and the .crc files
    loose = {p: f"{m:04o}" for p, (d, m) in modes.items() if m != (0o700 if d else 0o600)}
    assert not loose, loose  # before: every folder 0755, every file 0644


def test_a_umask_of_the_config_or_the_cluster_wins_over_the_default():
    assert DEFAULT_CONF[KEY] == "077"
    assert merged_conf({KEY: "027"}, None)[KEY] == "027"  # a team's group reads the tables
    assert merged_conf(None, None, {KEY: "027"}).get(KEY) is None  # spark-defaults.conf's
