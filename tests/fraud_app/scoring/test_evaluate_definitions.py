"""`evaluate` on a feature table built from specs that changed under the same feature names
since the model was trained (time_since_previous's cap 30d -> 7d): refused naming the
feature and the field, as the scoring job refuses it; it evaluated the model on values it
never learned, exit 0. Real Spark, a small feature table written here."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from dlcore.layers import Linear, Sequential
from dlcore.model import Model
from fraud_app.config import load_config
from fraud_app.errors import ScoringInputError
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.evaluate import run_evaluation

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
NAMES = ["card_seconds_since_prev", "amount_log1p"]


def _setup(spark, tmp_path, mutate=lambda df: df):
    config = load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False,
                                "features.spec_dir": str(ROOT / "feature_specs")})  # fmt: skip
    defs = definitions(feature_set_from_config(config.features), NAMES)
    model = Model(Sequential([Linear(1)]), in_features=2, seed=0)
    FraudEnsemble([model], NAMES, {"features": {"definitions": defs}}).save(tmp_path / "m")
    rng = np.random.default_rng(0)
    rows = [(f"c{i % 7}", dt.date(2024, 1, 1 + i % 3), float(i % 5 == 0), *map(float, rng.random(2)))
            for i in range(60)]  # fmt: skip
    schema = "card_id string, event_date date, label double, " + ", ".join(
        f"{n} double" for n in NAMES
    )
    table = tmp_path / "features"
    mutate(spark.createDataFrame(rows, schema)).write.parquet(str(table))
    entries = [{"name": n, "fill": 0.0, **defs[n]} for n in NAMES]
    meta = {"feature_names": NAMES, "label_delay_days": 7.0, "features": entries}
    (table / "_features.json").write_text(json.dumps(meta))
    return config, table, meta


def test_a_table_built_from_changed_specs_is_refused(spark, tmp_path):
    config, table, meta = _setup(spark, tmp_path)
    window = {"start": dt.date(2024, 1, 1), "end": dt.date(2024, 1, 3)}
    report, _ = run_evaluation(spark, config, model_uri=str(tmp_path / "m"), **window)
    assert report["rows"] == 60  # the same definitions: evaluated
    meta["features"][0]["cap"] = "7d"
    (table / "_features.json").write_text(json.dumps(meta))
    with pytest.raises(ScoringInputError, match=rf"the feature table {table} computes 1 of the "
                       r"model's features with another definition than the model was trained "
                       r"on: card_seconds_since_prev \(cap: '30d' -> '7d'\)\. Evaluate on a "
                       "feature table built with the model's specs"):  # fmt: skip
        run_evaluation(spark, config, model_uri=str(tmp_path / "m"), **window)
