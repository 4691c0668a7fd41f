"""The feature table is written without Parquet dictionaries: its feature columns and
vector hold too many distinct values for one, and the writer's attempts (hash maps, then
the fall-back to plain pages) were 18 % of the 1M features step's executor CPU
(docs/BENCHMARKS.md, session 25). The values read back are the same."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fraud_app.features.compile import compute_features
from fraud_app.features.spec import FeatureSet
from fraud_app.features.table import write_feature_table
from tests.fraud_app.features.canonical_data import SCHEMA
from tests.fraud_app.features.test_compile import CARD, HAND_ROWS

pytestmark = pytest.mark.spark


def test_the_feature_table_has_no_dictionary_pages(spark, tmp_path):
    df = spark.createDataFrame(HAND_ROWS, SCHEMA)
    fs = FeatureSet(features=tuple(CARD), label_delay_s=0)
    out = str(tmp_path / "features")
    write_feature_table(spark, compute_features(df, fs), fs, out)
    files = sorted(Path(out).rglob("*.parquet"))
    assert files
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for g in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                chunk = meta.row_group(g).column(c)
                assert not chunk.has_dictionary_page, (f.name, chunk.path_in_schema)
    expected = compute_features(df, fs).df.drop("event_date")
    written = spark.read.parquet(out).select(*expected.columns)
    assert written.exceptAll(expected).count() == 0 == expected.exceptAll(written).count()
