"""`fraud-app features` (and `run`) parse the feature-spec files once: the preflight before
the JVM starts parses them, and the features step computes that parsed FeatureSet; it
read and parsed every file a second time inside build_feature_table."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from fraud_app.config import load_config
from fraud_app.features.pipeline import build_feature_table, check_feature_specs
from pipelines.cli import main
from tests.fraud_app.features.canonical_data import SCHEMA
from tests.fraud_app.features.test_compile import HAND_ROWS

pytestmark = pytest.mark.spark
SPEC = (
    "version: 1\nfeatures:\n  - {kind: window_agg, entity: card, aggregation: count, window: 1h}\n"
)


def _project(spark, tmp_path):
    spark.createDataFrame(HAND_ROWS, SCHEMA).write.parquet(str(tmp_path / "canonical"))
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(SPEC)
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"paths": {"root": str(tmp_path)}, "tracking": {"enabled": False},
                                  "features": {"spec_dir": str(tmp_path / "specs")}}))  # fmt: skip
    return config


def test_the_features_command_reads_the_specs_once(spark, tmp_path, caplog, capsys):
    config = _project(spark, tmp_path)
    with caplog.at_level(logging.INFO, logger="fraud_app.features.pipeline"):
        assert main(["-c", str(config), "features"]) == 0
    reads = [r.getMessage() for r in caplog.records if r.getMessage().startswith("feature specs:")]
    assert reads == [f"feature specs: 1 feature(s) from 1 file(s) in {tmp_path / 'specs'}"]
    assert json.loads(capsys.readouterr().out)["feature_names"] == ["card_count_1h"]


def test_build_feature_table_computes_the_parsed_specs_it_is_given(spark, tmp_path):
    config = load_config(str(_project(spark, tmp_path)))
    feature_set = check_feature_specs(config.features)
    shutil.rmtree(tmp_path / "specs")  # nothing left to read a second time
    summary = build_feature_table(spark, config, feature_set)
    assert summary.feature_names == ("card_count_1h",) and summary.rows == len(HAND_ROWS)
