"""Reading the feature table for train / backtest / tune / evaluate: one reader
(fraud_app.features.table.read_feature_table over fraud_app.etl.table_read.read_table) and one
error line for each way the table can be unusable, on real Parquet folders."""

from __future__ import annotations

import pytest

from fraud_app.config import load_config
from fraud_app.errors import EmptyInputError, SchemaError
from fraud_app.features.table import read_feature_metadata
from fraud_app.scoring.evaluate import _feature_table
from pipelines.training.feature_input import read_features

pytestmark = pytest.mark.spark


def _readers(tmp_path):
    cfg = load_config(None, {"paths.root": str(tmp_path)})
    return {
        "train": lambda spark: read_features(spark, cfg)[1],
        "evaluate": lambda spark: _feature_table(spark, cfg)[1],
    }


@pytest.mark.parametrize("step", ["train", "evaluate"])
def test_each_unusable_feature_table_is_named(spark, tmp_path, step):
    read = _readers(tmp_path)[step]
    table = tmp_path / "features"
    # evaluate said "cannot be read (FileNotFoundError)"
    with pytest.raises(EmptyInputError, match=rf"^feature table {table} does not exist; run `fraud-app features` first$"):  # fmt: skip
        read(spark)
    table.mkdir()
    with pytest.raises(EmptyInputError, match=rf"^feature table {table} holds no Parquet data"):
        read(spark)
    spark.createDataFrame([(1, 2.0)], "id int, x double").write.mode("overwrite").parquet(
        str(table)
    )
    # train said the table "does not exist", evaluate "cannot be read (FileNotFoundError)"
    with pytest.raises(SchemaError, match=rf"^feature table {table} has no _features.json .*: it was not written by `fraud-app features`"):  # fmt: skip
        read(spark)
    (table / "_features.json").write_text("{not json")
    with pytest.raises(SchemaError, match=rf"^{table}/_features.json is not a feature-table metadata file \(ValueError: not JSON \(Expecting property name"):  # fmt: skip
        read(spark)
    (table / "_features.json").write_text('{"feature_names": ["x"]}')
    assert read(spark) == ["x"]


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]", '{"rows": 3}'])
def test_read_feature_metadata_names_the_table_without_spark(tmp_path, content):
    # the notebooks' call (no session): a bare FileNotFoundError / JSONDecodeError /
    # KeyError naming only the file, or nothing at all for a JSON list
    table = tmp_path / "features"
    with pytest.raises(SchemaError, match=rf"^feature table {table} does not exist; run "):
        read_feature_metadata(str(table))
    table.mkdir()
    if content is None:
        with pytest.raises(SchemaError, match=rf"^feature table {table} has no _features\.json "):
            read_feature_metadata(str(table))
        return
    (table / "_features.json").write_text(content)
    with pytest.raises(SchemaError, match=rf"^{table}/_features\.json is not a feature-table "):
        read_feature_metadata(str(table))
