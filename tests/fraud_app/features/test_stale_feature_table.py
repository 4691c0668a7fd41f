"""A feature table older than the canonical table it was computed from (session 23 probe).

`fraud-app labels` filled a label (a chargeback) in the canonical table; `train` then read
the feature table built before it, where that row is still unlabelled (left out of
training), without a word. `features` now records its input's data files in
`_features.json` (`source`) and the readers warn when the input was rewritten since.
Real Spark: the real ETL, features and labels feed; the project built once for the module
and put back as built for each test (`config`)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from fraud_app.etl.labels import run_labels
from fraud_app.features.pipeline import build_feature_table
from fraud_app.features.table import read_feature_table
from pipelines.training.feature_input import read_features
from tests.fraud_app.csv_project import BuiltProject

pytestmark = pytest.mark.spark
CSV = "transaction_id,card_id,timestamp,amount,label\n" + "".join(
    f"t{i},c{i % 3},2024-01-0{1 + i % 4} 10:0{i % 6}:00,{10 + i}.5,{'' if i == 5 else int(i % 7 == 0)}\n"
    for i in range(24)
)
LOGGER = "fraud_app.features.source_state"


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory) -> BuiltProject:
    """`etl` of CSV, then `features` with the shipped specs, once for the module."""
    return BuiltProject(spark, tmp_path_factory.mktemp("project"), CSV)


@pytest.fixture
def config(built):
    """The project as `etl` and `features` left it (put back in place), for this test."""
    return built.fresh()


def test_a_feature_table_older_than_the_canonical_table_is_named(spark, tmp_path, config, caplog):
    meta = json.loads((Path(config.feature_table()) / "_features.json").read_text())
    assert meta["source"]["files"] >= 4 and meta["source"]["path"].endswith("canonical")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        read_feature_table(spark, config.feature_table())
    assert "older than its input" not in caplog.text  # up to date: no word
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label\nt5,1\n")  # a chargeback for the unlabelled row
    assert run_labels(spark, config, [str(feed)]).labels_filled == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        df, _ = read_features(spark, config)  # what train, tune and backtest read
    assert df.filter("transaction_id = 't5'").count() == 0  # still unlabelled there
    assert (
        f"feature table {config.feature_table()} is older than its input "
        f"{meta['source']['path']}: that table was rewritten after `features` ran"
    ) in caplog.text
    assert "Run `fraud-app features` to bring the feature table up to date" in caplog.text
    build_feature_table(spark, config)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        df, _ = read_features(spark, config)
    assert "older than its input" not in caplog.text
    assert df.filter("transaction_id = 't5'").first()["label"] == 1


OLD_KEYS = ("version", "feature_names", "vector_column", "label_column", "weight_column",
            "id_column", "timestamp_column", "partition_column", "label_delay_days", "skipped",
            "features", "rows")  # fmt: skip


def test_an_older_releases_feature_table_is_judged_by_time(spark, tmp_path, config, caplog):
    """Session 29 (upgrades): a feature table written before session 23 records no `source`;
    after the upgrade a `labels` run (or an ETL append) rewrote the canonical table, and
    train read the old table without a word (the chargeback left out of training)."""
    # the _features.json session 10's `features` wrote: these keys, no source / data_files
    path = Path(config.feature_table()) / "_features.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({k: meta[k] for k in OLD_KEYS}, indent=2))
    path.with_name("._features.json.crc").unlink(missing_ok=True)  # Hadoop's, of the old text
    path.with_name("_files.json").unlink()  # nor the record of its files (session 30)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        read_features(spark, config)
    assert "records no state of its input" not in caplog.text  # nothing newer: no word
    time.sleep(1.1)  # file times of a coarse file system
    feed = tmp_path / "feed.csv"
    feed.write_text("transaction_id,label\nt5,1\n")
    assert run_labels(spark, config, [str(feed)]).labels_filled == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        df, _ = read_features(spark, config)
    assert df.filter("transaction_id = 't5'").count() == 0  # still unlabelled there
    [line] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert line.startswith(
        f"feature table {config.feature_table()} records no state of its input (written by a "
        "fraud-app release before session 23"
    ), line
    assert f"its input {config.canonical_table()} has a data file written after it" in line
    assert line.endswith("Run `fraud-app features` to bring the feature table up to date")
    build_feature_table(spark, config)  # rebuilt: recorded, current, no word
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        read_features(spark, config)
    assert "records no state" not in caplog.text and "older than" not in caplog.text
