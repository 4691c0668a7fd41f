"""A project on a small CSV, shared by tests of the tables' life after `etl` and `features`."""

from __future__ import annotations

from pathlib import Path

from fraud_app.config import AppConfig, load_config
from fraud_app.etl.pipeline import run_etl
from fraud_app.features.pipeline import build_feature_table

ROOT = Path(__file__).resolve().parents[2]


def csv_project(spark, tmp_path: Path, csv: str) -> AppConfig:
    """`etl` of `csv` (one file under tmp_path/raw), then `features` with the shipped
    specs, under tmp_path/root; the config."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "d.csv").write_text(csv)
    config = load_config(None, {"paths.root": str(tmp_path / "root"), "etl.input": str(raw),
                                "features.spec_dir": str(ROOT / "feature_specs")})  # fmt: skip
    run_etl(spark, config)
    build_feature_table(spark, config)
    return config
