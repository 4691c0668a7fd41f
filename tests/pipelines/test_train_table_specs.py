"""`train` / `tune` / `backtest` on a feature table built from other definitions than the
config's specs give now (probe51d, session 51).

A spec edited since `features` ran (time_since_previous's cap 30d -> 7d), or a table built
with `fraud-app features --label-delay-days 3` and trained under a config of 7: training
learned the table's values but recorded the specs' definitions with the model, so `score`,
which computes the specs' values and compares them with the model's record, scored values
the model never learned without a word. The steps that read the table for training now
refuse it, naming the features and the fields. Real Spark: a small table written here."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from fraud_app.config import load_config
from fraud_app.errors import FeatureSpecError
from fraud_app.features.pipeline import feature_set_from_config
from fraud_app.features.spec import definitions
from pipelines.training.feature_input import read_features

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["card_seconds_since_prev", "mcc_fraud_rate", "amount_log1p"]


def _config(tmp_path: Path):
    return load_config(None, {"paths.root": str(tmp_path), "tracking.enabled": False,
                              "features.spec_dir": str(ROOT / "feature_specs")})  # fmt: skip


def _metadata(config) -> dict:
    """`_features.json` as `features` writes it under `config` (its definitions)."""
    defs = definitions(feature_set_from_config(config.features), NAMES)
    entries = [{"name": n, "fill": 0.0, **{k: v for k, v in defs[n].items()
                                           if k != "label_delay_s"}} for n in NAMES]  # fmt: skip
    return {"feature_names": NAMES, "label_delay_days": 7.0, "features": entries}


def test_the_differences_are_named_per_feature_and_the_delay_in_days(tmp_path):
    from fraud_app.features.spec import table_differences  # new in session 51

    config = _config(tmp_path)
    feature_set = feature_set_from_config(config.features)
    meta = _metadata(config)
    assert table_differences(meta, feature_set, NAMES) is None
    meta["features"][0]["cap"] = "7d"
    meta["label_delay_days"] = 3.0
    assert table_differences(meta, feature_set, NAMES) == (
        "1 feature(s) with another definition (table -> specs): card_seconds_since_prev "
        "(cap: '7d' -> '30d'); the label delay of 1 label feature(s) (mcc_fraud_rate): the "
        "table was built with label_delay_days 3.0, features.label_delay_days is 7"
    )
    # a table that records no definitions (older, hand-written) is not judged
    assert table_differences({"feature_names": NAMES}, feature_set, NAMES) is None


@pytest.mark.spark
def test_training_refuses_a_table_built_from_other_definitions(spark, tmp_path):
    config = _config(tmp_path)
    rows = [(f"t{i}", dt.datetime(2024, 1, 1 + i % 3), int(i % 5 == 0), 1.0, 0.1, 2.0)
            for i in range(12)]  # fmt: skip
    schema = "transaction_id string, timestamp timestamp, label int, " + ", ".join(
        f"{n} double" for n in NAMES
    )
    table = Path(config.feature_table())
    spark.createDataFrame(rows, schema).write.parquet(str(table))
    meta = _metadata(config)
    (table / "_features.json").write_text(json.dumps(meta))
    df, names = read_features(spark, config, "train")
    assert names == NAMES and df.count() == 12  # the same definitions: read
    meta["label_delay_days"] = 3.0  # `features --label-delay-days 3`, a config of 7
    (table / "_features.json").write_text(json.dumps(meta))
    with pytest.raises(FeatureSpecError, match=rf"train: the feature table {table} was built "
                       r"from other feature definitions than the config's specs give now: the "
                       r"label delay of 1 label feature\(s\) \(mcc_fraud_rate\): the table was "
                       r"built with label_delay_days 3\.0, features\.label_delay_days is 7\. "
                       r"The model would learn .* run `fraud-app features` with this config "
                       "first"):  # fmt: skip
        read_features(spark, config, "train")
    meta["label_delay_days"] = 7.0
    meta["features"][0]["cap"] = "7d"  # a spec edited since the table was built
    (table / "_features.json").write_text(json.dumps(meta))
    with pytest.raises(FeatureSpecError, match=r"tune: .*card_seconds_since_prev \(cap: '7d' "
                                               r"-> '30d'\)"):  # fmt: skip
        read_features(spark, config, "tune")
