"""Which rows each worker trains on is a function of the rows, not of how the input was split.

A checkpoint stores each worker's data position as (epoch, offset) into its own partition,
and a resume is matched to the data by a digest of the whole data set. The rows were dealt
to the workers round-robin in the order the input's partitions came, so the same table
read as other files or splits (another core count, a restarted cluster, a coalesced
DataFrame) gave each worker other rows: the digest matched, the run resumed, and each
worker went on through an epoch over rows it had not been walking (some rows twice, some
not at all): a model that was neither the uninterrupted run's nor refused.
"""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pytest

from dlcore.layers import Dropout, Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import Adam
from dlcore.serialization import write_json_atomic
from fraud_app.spark.checkpoint import ForeignCheckpointError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.data import decode_blocks, to_training_blocks
from fraud_app.spark.trainer import DistributedTrainer

pytestmark = pytest.mark.spark
D = 5


@pytest.fixture
def tables(spark, tmp_path):
    """The same 240 rows written as one parquet file and as four, read back."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((240, D)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.standard_normal(240) > 0.8).astype(np.float32)
    rows = [(X[i].tolist(), float(y[i])) for i in range(240)]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    df.coalesce(1).write.parquet(str(tmp_path / "one"))
    df.repartition(4).write.parquet(str(tmp_path / "four"))
    return spark.read.parquet(str(tmp_path / "one")), spark.read.parquet(str(tmp_path / "four"))


def _ranks(df) -> list[np.ndarray]:
    blocks = to_training_blocks(
        df, features_col="features", label_col="label", weight_col=None, num_workers=2
    )
    try:
        return [decode_blocks(part).X for part in blocks.glom().collect()]
    finally:
        blocks.unpersist()


def test_each_worker_gets_the_same_rows_in_the_same_order_however_the_input_is_split(tables):
    one, four = tables
    a, b = _ranks(one), _ranks(four)
    assert [len(x) for x in a] == [len(x) for x in b]
    assert abs(len(a[0]) - len(a[1])) <= 2  # equal shares (+- num_workers rows)
    for rank, (x, z) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_array_equal(x, z, err_msg=f"rank {rank} holds other rows")


def _fit(df, iterations: int, checkpoint_dir=None):
    model = Model(Sequential([Linear(8), ReLU(), Dropout(0.2), Linear(1)]), in_features=D, seed=1)
    config = DistributedConfig(
        num_workers=2, global_batch_size=32, epochs=None, iterations=iterations, group_size=2,
        warmup_iterations=2, checkpoint_dir=checkpoint_dir,
    )  # fmt: skip
    return DistributedTrainer(model, BCEWithLogits(), Adam(learning_rate=3e-2), config).fit(df)


def test_a_run_resumed_over_the_same_rows_split_otherwise_ends_as_the_uninterrupted_one(
    tables, tmp_path, caplog
):
    """Interrupted at iteration 10 (its checkpoints kept) while reading four files, resumed
    to 16 from the same rows read as one file: the weights of the run that read four files
    throughout, to the bit (each worker's position points into the same rows)."""
    one, four = tables
    clean = _fit(four, 16)
    ckpt = str(tmp_path / "ckpt")
    _fit(four, 10, ckpt)
    with caplog.at_level(logging.INFO, logger="fraud_app.spark.grouped"):
        resumed = _fit(one, 16, ckpt)
    assert "resuming from the checkpoint of group 5 at iteration 10" in caplog.text
    np.testing.assert_array_equal(resumed.model.params.data, clean.model.params.data)


def test_a_checkpoint_of_rows_dealt_by_the_input_partitions_is_refused(tables, tmp_path):
    """A checkpoint written before the rows were dealt by content (its setup has no
    `rows_dealt`: meta.json rewritten as such a release wrote it, fingerprint and seal
    included) holds data positions into other rows: refused, not resumed onto them."""
    _, four = tables
    ckpt = tmp_path / "ckpt"
    _fit(four, 4, str(ckpt))
    for meta_path in ckpt.glob("group-*/meta.json"):
        meta = json.loads(meta_path.read_text())
        meta["setup"].pop("rows_dealt", None)
        blob = json.dumps(meta["setup"], sort_keys=True)
        meta["fingerprint"] = hashlib.sha256(blob.encode()).hexdigest()[:16]
        write_json_atomic(meta_path, meta, sealed=True)
    with pytest.raises(ForeignCheckpointError, match=r"how the training rows are dealt to the "):
        _fit(four, 8, str(ckpt))


def test_the_same_values_stored_as_doubles_or_ints_are_dealt_as_the_floats_they_train(spark):
    """The encoder trains float32 values whatever the column types; the rows were hashed
    and dealt as Spark held them, so features stored as array<double> (or a label as int)
    instead of array<float> / double gave each worker other rows while the data digest
    (of the encoded blocks) matched: a resume across the two silently walked other rows."""
    from pyspark.sql import functions as F

    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, D)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(np.float32)
    floats = spark.createDataFrame(
        [(X[i].tolist(), float(y[i])) for i in range(60)], "features array<float>, label double"
    )
    doubles = floats.select(
        F.col("features").cast("array<double>").alias("features"),
        F.col("label").cast("int").alias("label"),
    )
    a, b = _ranks(floats), _ranks(doubles)
    for rank, (x, z) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_array_equal(x, z, err_msg=f"rank {rank} holds other rows")


def test_the_deal_does_not_depend_on_sparks_sort_before_repartition(spark, tables):
    """Spark sorts each partition before a round-robin only while
    spark.sql.execution.sortBeforeRepartition is on (the default); off, the content
    partitions were dealt in shuffle-arrival order, which follows the input's partitioning:
    the same rows read as one file or four gave each worker other rows again."""
    one, four = tables
    key = "spark.sql.execution.sortBeforeRepartition"
    before = spark.conf.get(key, "true")
    spark.conf.set(key, "false")
    try:
        a, b = _ranks(one), _ranks(four)
    finally:
        spark.conf.set(key, before)
    for rank, (x, z) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_array_equal(x, z, err_msg=f"rank {rank} holds other rows")
