"""A checkpoint is resumed only over the rows it was trained on, row by row.

The setup matched a checkpoint to its data by `DataSummary.digest()`: counts, positives and
per-feature sums. Labels moved between rows (half the frauds' labels given to as many
normal rows), or one feature's values dealt to other rows, leave all of those unchanged:
such a run resumed from the other data's checkpoint without a word and ended as neither
run (session 55). The setup now also holds a checksum of every row (`data_rows`).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pyspark.sql import functions as F

from dlcore.layers import Linear, ReLU, Sequential
from dlcore.losses import BCEWithLogits
from dlcore.model import Model
from dlcore.optimizers import Adam
from fraud_app.ml.data import inspect_training_data
from fraud_app.spark.checkpoint import ForeignCheckpointError
from fraud_app.spark.config import DistributedConfig
from fraud_app.spark.data import encode_block
from fraud_app.spark.setup_differences import setup_differences
from fraud_app.spark.summary import DataSummary, _partition_summary, row_checksum
from fraud_app.spark.trainer import DistributedTrainer

D = 5


def _rows(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(n) > 0.5).astype(np.float32)
    return X, y


def _labels_moved(y: np.ndarray) -> np.ndarray:
    """Half the positives' labels given to as many negatives: same counts, other data."""
    moved = y.copy()
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    k = len(pos) // 2
    moved[pos[:k]], moved[neg[:k]] = 0, 1
    return moved


def _summary(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> DataSummary:
    """The summary the trainer's pass makes of one block of these rows."""
    [(_, summary)] = _partition_summary(0, iter([encode_block(X, y, w)]))
    return summary


def test_rows_moved_between_labels_or_features_are_other_rows_in_any_order():
    X, y = _rows()
    w = np.linspace(0.5, 2.0, len(y)).astype(np.float32)
    base = _summary(X, y)
    moved = _summary(X, _labels_moved(y))
    assert moved.digest() == base.digest()  # what the setup held alone: blind to it
    assert moved.content_digest != base.content_digest
    dealt = X.copy()
    dealt[:, 2] = dealt[np.random.default_rng(1).permutation(len(y)), 2]
    assert _summary(dealt, y).digest() == base.digest()
    assert _summary(dealt, y).content_digest != base.content_digest
    assert _summary(X, y, w).content_digest != _summary(X, y, w[::-1]).content_digest
    # the same rows in another order, blocks and partitions: the same checksum
    order = np.random.default_rng(2).permutation(len(y))
    parts = [_summary(X[order][i : i + 37], y[order][i : i + 37]) for i in range(0, 240, 37)]
    assert DataSummary.combine(parts).content_digest == base.content_digest
    zero, negative_zero = X.copy(), X.copy()
    zero[0, 0], negative_zero[0, 0] = 0.0, -0.0  # equal values, trained alike
    assert _summary(negative_zero, y).content == _summary(zero, y).content
    assert row_checksum(X[:0], y[:0]) == 0
    # the values as the trainer reads them: float64 features and labels cast to float32
    assert row_checksum(X.astype(np.float64), y.astype(np.float64)) == base.content


def _one_row_duplicated_another_dropped(X, y, w):
    keep = np.r_[0, 0, np.arange(2, len(y))]
    return X[keep], y[keep], w[keep]


def _two_rows_labels_swapped(X, y, w):
    i, j = np.flatnonzero(y == 1)[0], np.flatnonzero(y == 0)[0]
    swapped = y.copy()
    swapped[[i, j]] = y[[j, i]]
    return X, swapped, w


def _two_columns_swapped(X, y, w):
    return X[:, [1, 0, *range(2, D)]], y, w


def _one_value_off_in_its_last_bit(X, y, w):
    changed = X.copy()
    changed[-1, -1] = np.nextafter(changed[-1, -1], np.float32(np.inf))
    return changed, y, w


@pytest.mark.parametrize(
    "change",
    [_one_row_duplicated_another_dropped, _two_rows_labels_swapped, _two_columns_swapped,
     _one_value_off_in_its_last_bit],
)  # fmt: skip
def test_the_smallest_changes_of_the_rows_change_the_checksum(change):
    X, y = _rows()
    w = np.linspace(0.5, 2.0, len(y)).astype(np.float32)
    assert row_checksum(*change(X, y, w)) != row_checksum(X, y, w)


@pytest.mark.spark
def test_the_estimators_checking_pass_does_not_hash_the_rows(spark):
    """The checksum is the trainer's (its pass over the blocks): the estimators' checking
    pass over the same rows computed it too and threw it away, 0.4-1.5 s of executor CPU
    per 10^6 x 30 rows on this host (review55c)."""
    X, y = _rows()
    rows = [(X[i].tolist(), float(y[i])) for i in range(len(y))]
    df = spark.createDataFrame(rows, "features array<float>, label double")
    summary = inspect_training_data(df, "features", "label", "DlcoreClassifier.fit")
    assert summary.rows == len(y) and summary.content == 0


def _fit(df, iterations: int, checkpoint_dir: str):
    model = Model(Sequential([Linear(8), ReLU(), Linear(1)]), in_features=D, seed=1)
    config = DistributedConfig(
        num_workers=2, global_batch_size=32, epochs=None, iterations=iterations, group_size=2,
        warmup_iterations=2, checkpoint_dir=checkpoint_dir,
    )  # fmt: skip
    return DistributedTrainer(model, BCEWithLogits(), Adam(learning_rate=3e-2), config).fit(df)


@pytest.mark.spark
def test_a_checkpoint_of_the_same_counts_and_sums_but_other_rows_is_refused(
    spark, tmp_path, caplog
):
    """Trained 4 iterations on the rows, then asked for 8 on the same rows with half the
    frauds' labels moved to normal rows: the base resumed from iteration 4 (the digest of
    counts and sums matched); now refused, naming the rows. The same rows in other
    partitions, as doubles, resume (a refusal there would start every retry over)."""
    X, y = _rows()

    def frame(labels):
        rows = [(X[i].tolist(), float(labels[i])) for i in range(len(labels))]
        return spark.createDataFrame(rows, "features array<float>, label double")

    ckpt = str(tmp_path / "ckpt")
    _fit(frame(y), 4, ckpt)
    with pytest.raises(ForeignCheckpointError, match=r"the training rows, row by row .* changed"):
        _fit(frame(_labels_moved(y)), 8, ckpt)
    same = frame(y).select(F.col("features").cast("array<double>"), "label").repartition(3)
    with caplog.at_level(logging.INFO, logger="fraud_app.spark.grouped"):
        assert _fit(same, 6, ckpt).iterations == 6
    assert "resuming from the checkpoint of group 2 at iteration 4" in caplog.text


def test_a_checkpoint_written_before_the_row_checksum_is_refused_for_that_reason():
    """A checkpoint written before `data_rows` holds none: the refusal said the rows
    'changed' (with 'labels or feature values moved to other rows' as the reason) over the
    very rows it was trained on; it says the checksum is not recorded (review55c)."""
    saved = {"rows": 240, "data": "c7597c971ef402a7"}
    now = {**saved, "data_rows": "2a2c4b3f9e0d1187"}
    assert setup_differences(saved, now) == (
        "the training rows, row by row (a checksum of each row's features, label and weight: "
        "a row added, dropped or changed, or values moved between rows): not recorded in "
        "this checkpoint (an older release wrote it)"
    )
    assert setup_differences({**saved, "data_rows": "0"}, now).endswith("between rows) changed")
