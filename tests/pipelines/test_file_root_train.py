"""generate -> etl -> features -> train under paths.root `file:///<dir>` from another working
directory (real Spark, real files). Before (fileroot43) the tables went to <dir> but the
final ensemble (FraudEnsemble.save, Python) went to `<cwd>/file:/<dir>/models/r1`, and the
report and evaluations to `<cwd>/file:/<dir>/reports`."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraud_app.data.generator import generate_raw, write_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from pipelines.training.pipeline import run_training
from tests.fraud_app.scoring.job_data import job_config

# slow: a whole generate -> train run (~150-460 s on 2 cores); tests/fraud_app/test_file_root.py
# covers each consumer of a file: root in the fast suite
pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]


def test_a_file_root_run_writes_only_under_the_root(spark, tmp_path, monkeypatch):
    root, cwd = tmp_path / "d", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    config = job_config(root, **{"paths.root": f"file://{root}", "tracking.enabled": False})
    write_raw(generate_raw(spark, config.generate), f"file://{root}/raw", config.generate.format)
    run_etl(spark, config)
    build_feature_table(spark, config)
    report = run_training(spark, config, run="r1")
    assert Path(report.model_path) == root / "models" / "r1"
    assert (root / "models" / "r1" / "ensemble.json").is_file()
    assert Path(report.report_path) == root / "reports" / "training-r1.json"
    assert (root / "reports" / "training-r1.json").is_file()
    assert (root / "test-scores" / "r1").is_dir()
    assert not list(cwd.iterdir()), sorted(map(str, cwd.rglob("*")))[:5]
