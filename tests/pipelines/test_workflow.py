"""The whole workflow on a small generated data set: real Spark, real Great Expectations."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.features.pipeline import check_feature_specs
from fraud_app.models.ensemble import FraudEnsemble
from pipelines.cli import COMMANDS
from pipelines.workflow.pipeline import run_workflow

pytestmark = [pytest.mark.spark, pytest.mark.integration]
DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def test_demo_config_runs_end_to_end_on_small_data(spark, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = load_config(
        DEMO,
        {
            "paths.root": str(tmp_path),
            "generate.n_transactions": 12_000,
            "generate.n_cards": 1_500,
            "generate.n_merchants": 300,
            "generate.fraud_rate": 0.01,
            "generate.partitions": 2,
            "balancing.unionpay_subsets.n_subsets": 2,
            # at most 5 passes of 256 rows a batch, 1 refit pass, 5 logreg and 2 GBT iterations
            # (were 10 of 128, 3, 10, 5): the assertions need a trained, tracked, gated run and
            # both baselines, not the best model; test ROC AUC 0.9989 / 0.9963 on seeds 42 / 7
            # (0.9998 with the old ones); labels shuffled in balancing: 0.36 (docs/PROBES.md,
            # session 45). The step's time is its Spark jobs, not these: train 353 -> 337 s
            "training.distributed.epochs": 5,
            "training.distributed.global_batch_size": 256,
            "training.refit.passes": 1.0,
            "training.model.hidden": [16],
            "baselines.logreg.max_iter": 5,
            "baselines.gbt.max_iter": 2,
        },
    )
    # as `fraud-app run` calls it: the specs parsed before Spark (check_feature_specs) and
    # handed on, so the features step does not read them again; warm_up: GX and the
    # tracking store on a thread
    feature_set = check_feature_specs(config.features, config.etl.bounds.min_amount)
    with caplog.at_level(logging.WARNING, logger="fraud_app.etl.amounts"):
        result = run_workflow(
            spark, config, generate=True, run="t1", warm_up=True, feature_set=feature_set
        )
    assert tuple(result.steps["features"]["feature_names"]) == feature_set.names

    # `fraud-app run --help` names the steps the workflow runs, in order
    listed = COMMANDS["run"][1].split(": ", 1)[1].replace("[", "").replace("]", "").split()
    assert [name.split("_")[0] for name in result.steps] == listed

    etl = result.steps["etl"]
    assert etl["input_rows"] == etl["output_rows"] + etl["quarantine_rows"] + etl["duplicate_rows"]
    assert etl["quarantine_rows"] > 0  # the demo injects dirty rows; none may vanish
    # configs/demo.yaml's reading of the generator's files raises no amount WARNING: no
    # currency column, fractional amounts (no minor-unit look), the amounts published
    # (was test_amount_units' load of its own generated data; session 55)
    assert etl["quarantine_rows"] < 0.01 * etl["input_rows"], etl
    assert (etl["currency_column"], etl["amounts_look_minor"]) == (None, {})
    said = [r.getMessage() for r in caplog.records
            if r.name == "fraud_app.etl.amounts" and r.levelno >= logging.WARNING]  # fmt: skip
    assert not said, said
    assert result.steps["validate_canonical"]["success"]
    report = json.loads(Path(result.steps["train"]["report"]).read_text())
    assert len(report["members"]) == 2
    assert all(m["iterations"] > 0 and m["history"] for m in report["members"])
    test = report["metrics"]["test"]
    assert test["rows"] > 0 and test["frauds"] > 0
    assert test["roc_auc"] > 0.7, test  # generated frauds have strong signatures
    ensemble = FraudEnsemble.load(result.steps["train"]["model"])
    assert ensemble.feature_names == report["feature_names"]
    assert (tmp_path / "test-scores" / "t1").is_dir()
    # The batch job's table stays one readable Spark table after a run (the training run's
    # own test scores live elsewhere, not as a non-partition folder beside event_date=...).
    daily = spark.read.parquet(str(tmp_path / "scores"))
    assert daily.count() == result.steps["score"]["rows"] == test["rows"]
    # Lifecycle: the run is tracked, the ensemble registered and gated, baselines compared.
    train = result.steps["train"]
    assert train["model_uri"] == "models:/fraud-ensemble/1"
    assert train["registry"]["decision"] == "champion"  # the first version: no champion yet
    assert set(report["baselines"]) == {"logreg", "gbt"}
    assert (tmp_path / "mlflow.db").is_file()
