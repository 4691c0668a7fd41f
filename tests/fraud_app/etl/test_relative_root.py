"""A relative `paths.root` after the process changed its working directory (a notebook's
`os.chdir` between cells; session 25 probes): Hadoop resolved the tables against the JVM's
working directory, Python the run lock, the readers' registrations and the reports against
the new one, so the lock guarded a folder no table was in (the probe: tables under a/,
`rel-root/` with the lock under b/). The writers now refuse it before taking the lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.fs import HadoopFs, check_working_directory
from fraud_app.etl.labels import run_labels
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table

pytestmark = pytest.mark.spark
ROOT = "rel-root-probe25"


def test_a_relative_root_after_a_chdir_is_refused_before_anything_is_written(
    spark, tmp_path, monkeypatch
):
    jvm_dir = HadoopFs(spark).qualify(".").removeprefix("file:")
    raw = tmp_path / "raw.csv"
    raw.write_text("transaction_id,card_id,timestamp,amount\na1,c1,2024-01-05 10:00:00,1.5\n")
    config = load_config(None, {"paths.root": ROOT, "etl.input": str(raw)})
    monkeypatch.chdir(tmp_path)
    assert os.path.normpath(jvm_dir) != str(tmp_path)
    said = (rf"paths.root '{ROOT}' is relative: Spark writes it under .*{ROOT}, this process "
            rf"would lock it \(and write its reports\) under {tmp_path}/{ROOT}")  # fmt: skip
    for step in (lambda: run_etl(spark, config), lambda: run_labels(spark, config, [str(raw)]),
                 lambda: build_feature_table(spark, config)):  # fmt: skip
        with pytest.raises(ConfigError, match=said):
            step()
    assert not (tmp_path / ROOT).exists() and not (Path(jvm_dir) / ROOT).exists()


def test_an_absolute_root_or_the_sessions_own_directory_passes(spark, tmp_path, monkeypatch):
    check_working_directory(spark, str(tmp_path / "abs"))
    check_working_directory(spark, "hdfs://nn/x")  # not local: Hadoop's alone
    monkeypatch.chdir(HadoopFs(spark).qualify(".").removeprefix("file:"))
    check_working_directory(spark, ROOT)  # nothing written: only resolved
