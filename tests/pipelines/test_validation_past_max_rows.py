"""`train` with a validation window past `early_stopping.max_rows`: the members stop on a
weighted sample of it, and nothing of the window is collected beyond its scores' numbers;
past `fits_on_driver` (its threshold set to 0 here, so a small window takes that path)
the reported validation figures come from the executors, and they, the stored alert
threshold and the C4 evaluation JSON are those of the saved model over every row of the
window (recomputed here by collecting it). Real Spark, GE, MLflow on sqlite."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import generate_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.evaluation import spark_window
from fraud_app.features.pipeline import build_feature_table, split_and_balance
from fraud_app.features.table import labelled_rows, read_feature_table
from fraud_app.jsonout import finite
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import window_figures
from fraud_app.scoring.reference import alert_threshold
from pipelines.training import nodes
from pipelines.training.pipeline import run_training
from tests.fraud_app.evaluation.same_figures import same

pytestmark = [pytest.mark.spark, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


def test_a_window_past_max_rows_is_sampled_for_stopping_and_reported_whole(
    spark, tmp_path, monkeypatch, caplog
):
    config = load_config(ROOT / "configs" / "demo.yaml", {
        "paths.root": str(tmp_path), "features.spec_dir": str(ROOT / "feature_specs"),
        "generate.n_transactions": 3_000, "generate.n_cards": 300, "generate.days": 30,
        "generate.fraud_rate": 0.05, "generate.partitions": 1, "generate.dirty_fraction": 0.0,
        "splits.test_days": 3, "splits.validation_days": 4,
        # no test gap: the validation window sets the alert threshold (session 35: the gap
        # does when it raises >= 10 alerts), the path past fits_on_driver checked below
        "splits.test_gap_days": 0,
        "balancing.unionpay_subsets.n_subsets": 2, "training.distributed.epochs": 4,
        "training.distributed.early_stopping.max_rows": 60,
        "training.distributed.early_stopping.min_epochs": 1,
        "training.distributed.early_stopping.patience": 2,
        "training.refit": False, "training.distributed.global_batch_size": 64,
        "training.model.hidden": [8], "training.checkpoint": False,
        "baselines.enabled": False, "scoring.reference_rows": 500,
    })  # fmt: skip
    generate_raw(spark, config.generate).write.csv(str(tmp_path / "raw"), header=True)
    run_etl(spark, config)
    build_feature_table(spark, config)
    monkeypatch.setattr(spark_window, "DRIVER_ROWS", 0)
    with caplog.at_level(logging.INFO, logger="fraud_app.spark.validation_sample"):
        report = run_training(spark, config, run="r1")
    assert "early stopping scores a stratified sample of the validation window's" in caplog.text
    body = json.loads(Path(report.report_path).read_text())
    assert body["splits"]["windows"]["validation"]["rows"] > 60
    assert all(m["validation"] for m in body["members"])  # each member evaluated

    # every row of the window, collected here, scored by the saved model
    monkeypatch.setattr(spark_window, "DRIVER_ROWS", 250_000)
    df, _ = read_feature_table(spark, str(config.paths.resolve("features")))
    splits, _balanced = split_and_balance(labelled_rows(df, "train"), config)
    ensemble = FraudEnsemble.load(report.model_path)
    data = nodes.score_and_collect(splits.validation, ensemble, "features")
    budget = config.scoring.alert_budget
    same(body["metrics"]["validation"], nodes.evaluate_arrays(data, budget))
    stored = ensemble.metadata["scoring"]["threshold"]
    assert ensemble.metadata["scoring"]["threshold_rows"]["window"] == "validation"
    assert stored == alert_threshold(data["fraud_score"], budget)
    written = json.loads(Path(body["evaluations"]["validation"]).read_text())
    expected = finite(window_figures(data, config))  # as written: NaN (undefined) is null
    same({k: written[k] for k in expected}, expected)
    assert report.registry and report.registry["decision"] == "champion"  # the gate ran
