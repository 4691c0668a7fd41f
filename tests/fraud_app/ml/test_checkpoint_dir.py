"""checkpointDir and other data: a second fit on data of the same row count (other labels,
the columns in another order) resumed the first fit's finished checkpoint and returned the
FIRST model without a word; the checkpoint fingerprint covered the row count, not the data.
It now carries DataSummary.digest(), so such a checkpoint is refused, naming it, while a
fit of the same data still resumes."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from fraud_app.errors import TrainingError
from fraud_app.ml import DlcoreClassifier
from fraud_app.spark.summary import DataSummary, summarize_arrays
from tests.fraud_app.ml.conftest import FAST


def _parts(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((400, 3)).astype(np.float32)
    y = (rng.random(400) < 0.2).astype(np.float32)
    return [summarize_arrays(X[i : i + 50], y[i : i + 50]) for i in range(0, 400, 50)], X, y


def test_the_digest_is_the_same_for_the_same_rows_summed_in_another_order():
    parts, X, y = _parts()
    digest = DataSummary.combine(parts).digest()
    assert DataSummary.combine(parts[::-1]).digest() == digest
    assert DataSummary.combine(parts[3:] + parts[:3]).digest() == digest
    assert summarize_arrays(X, y).digest() == digest


def test_the_digest_changes_with_labels_or_column_order():
    _, X, y = _parts()
    digest = summarize_arrays(X, y).digest()
    assert summarize_arrays(X, 1 - y).digest() != digest
    assert summarize_arrays(X[:, [1, 0, 2]], y).digest() != digest
    assert summarize_arrays(X, y, np.full(400, 2.0, np.float32)).digest() != digest


@pytest.mark.spark
def test_a_checkpoint_of_other_data_is_refused_and_the_same_data_resumes(vector_df, tmp_path):
    clf = DlcoreClassifier(**FAST, checkpointDir=str(tmp_path / "ckpt"))
    first = clf.fit(vector_df)
    flipped = vector_df.withColumn("label", 1.0 - F.col("label"))
    with pytest.raises(TrainingError, match="belongs to a different training setup"):
        clf.fit(flipped)  # it returned `first`'s weights, trained on the other labels
    again = clf.fit(vector_df)  # the same rows: the finished checkpoint is resumed
    np.testing.assert_array_equal(again.weights, first.weights)
