"""A step's output that is (or overlaps) its input is refused before anything is written:
`etl.output: <the raw folder>` replaced the raw files with the canonical table (exit 0),
`features.output` = the canonical table replaced it with the feature table, and a scores
folder inside a table mixed files into it."""

from __future__ import annotations

import datetime as dt

import pytest

from fraud_app.config import load_config
from fraud_app.errors import ConfigError
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table
from fraud_app.scoring.job import run_scoring

pytestmark = pytest.mark.spark
CSV = "transaction_id,card_id,timestamp,amount,label\nt1,c1,2024-01-05 10:00:00,12.5,0\n"


def _config(tmp_path, **overrides):
    return load_config(None, {"paths.root": str(tmp_path / "root"), **overrides})


@pytest.mark.parametrize(
    "setting, where, relation",
    [
        ("etl.output", "{raw}", "is the same path as etl.input"),
        ("etl.quarantine", "{raw}/q", "lies inside etl.input"),
        ("etl.output", "{tmp}", "holds etl.input"),
    ],
)
def test_etl_refuses_to_write_over_its_input(spark, tmp_path, setting, where, relation):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "d.csv").write_text(CSV)
    path = where.format(raw=raw, tmp=tmp_path)
    cfg = _config(tmp_path, **{"etl.input": str(raw), setting: path})
    with pytest.raises(ConfigError, match=rf"^{setting} {path} {relation} {raw}: writing it would replace"):  # fmt: skip
        run_etl(spark, cfg)
    assert sorted(p.name for p in raw.iterdir()) == ["d.csv"] and (raw / "d.csv").read_text() == CSV


def test_features_and_scoring_refuse_to_write_over_a_table(spark, tmp_path):
    canonical = tmp_path / "root" / "canonical"
    spark.createDataFrame([("t1", 1.0)], "transaction_id string, amount double").write.parquet(
        str(canonical)
    )
    before = sorted(p.name for p in canonical.iterdir())
    cfg = _config(tmp_path, **{"features.output": str(canonical)})
    with pytest.raises(
        ConfigError, match=r"^features.output .* is the same path as features.input"
    ):
        build_feature_table(spark, cfg)
    cfg = _config(tmp_path, **{"scoring.output": str(canonical / "scores")})
    with pytest.raises(ConfigError, match=r"^scoring.output .* lies inside the canonical table"):
        day = dt.date(2024, 1, 5)
        run_scoring(spark, cfg, start=day, end=day, model_uri=str(tmp_path / "no-model"))
    cfg = _config(tmp_path, **{"paths.scores": "canonical"})  # named by the setting it came from
    with pytest.raises(ConfigError, match=r"^paths.scores .* is the same path as the canonical"):
        run_scoring(spark, cfg, start=day, end=day, model_uri=str(tmp_path / "no-model"))
    assert sorted(p.name for p in canonical.iterdir()) == before
