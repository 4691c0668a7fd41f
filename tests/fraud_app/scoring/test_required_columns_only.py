"""Data with only the required columns (transaction and card ids, timestamp, amount,
label; no merchant) end to end: the feature step skips the specs whose inputs are absent,
and the batch job scores with the model trained on the remaining features (it refused:
"extra in the specs"; ETL refused data without a merchant column)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.data.generator import RAW_COLUMN_NAMES, generate_raw
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table, feature_set_from_config
from fraud_app.scoring.job import run_scoring
from pipelines.training.pipeline import run_training

pytestmark = [pytest.mark.spark, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[3]
ONLY = ("transaction_id", "card_id", "timestamp", "amount", "label")


def test_a_model_of_the_computable_features_scores(spark, tmp_path):
    config = load_config(ROOT / "configs" / "demo.yaml", {
        "paths.root": str(tmp_path), "features.spec_dir": str(ROOT / "feature_specs"),
        "generate.n_transactions": 3_000, "generate.n_cards": 300, "generate.days": 30,
        "generate.fraud_rate": 0.03, "generate.partitions": 1, "generate.dirty_fraction": 0.0,
        "splits.test_days": 3, "splits.validation_days": 3,
        "balancing.unionpay_subsets.n_subsets": 1, "training.distributed.iterations": 8,
        "training.distributed.epochs": None, "training.distributed.early_stopping": None,
        "training.refit": False, "training.distributed.global_batch_size": 64,
        "training.model.hidden": [4], "training.checkpoint": False, "tracking.enabled": False,
        "baselines.enabled": False, "scoring.reference_rows": 500,
    })  # fmt: skip
    raw = generate_raw(spark, config.generate)
    raw.select(*[RAW_COLUMN_NAMES[c] for c in ONLY]).write.csv(str(tmp_path / "raw"), header=True)
    run_etl(spark, config)
    build_feature_table(spark, config)
    report = run_training(spark, config, run="r1")
    names = json.loads(Path(report.report_path).read_text())["feature_names"]
    specs = [f.name for f in feature_set_from_config(config.features).features]
    assert set(names) < set(specs)  # e.g. the mcc / channel / country features are skipped
    assert names and not any("merchant" in n for n in names)
    test = json.loads(Path(report.report_path).read_text())["splits"]["windows"]["test"]
    day = (dt.datetime.fromisoformat(test["end"]) - dt.timedelta(days=1)).date()
    result = run_scoring(spark, config, start=day, end=day, model_uri=report.model_path)
    assert result.summary["dates"][0]["rows"] > 0
