"""The batch scoring job's trained model, shared by the files of this folder that score
or evaluate with it (test_job_*.py, test_evaluate_window.py).

`trained` runs generate -> etl -> features -> train once per test process (session scope:
split from one 558-line test_job.py whose module fixture trained once; under xdist each
worker that runs one of these files trains once). The tests share its root, as they did in
one module: each writes the scores it then reads, and builds its own variants of the data
under its tmp_path."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from pipelines.training.pipeline import run_training
from tests.fraud_app.scoring.job_data import job_config


@pytest.fixture(scope="session")
def trained(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("scoring")
    config = job_config(root)
    write_raw(generate_raw(spark, config.generate), str(root / "raw"), config.generate.format)
    run_etl(spark, config)
    build_feature_table(spark, config)
    report = run_training(spark, config, run="r1")
    training = json.loads(Path(report.report_path).read_text())
    test = training["splits"]["windows"]["test"]
    last_day = (dt.datetime.fromisoformat(test["end"]) - dt.timedelta(days=1)).date()
    return {"config": config, "root": root, "model": report.model_path, "report": training,
            "day": last_day}  # fmt: skip
