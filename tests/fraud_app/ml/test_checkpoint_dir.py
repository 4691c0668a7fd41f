"""checkpointDir and other data: a second fit on data of the same row count (other labels,
the columns in another order) resumed the first fit's finished checkpoint and returned the
FIRST model without a word; the checkpoint fingerprint covered the row count, not the data.
It carries DataSummary.digest(), and the estimators keep each training setup's checkpoints
in a subdirectory of their own (`setup-<fingerprint>`), so fits of other data or params
sharing one checkpointDir (a CrossValidator) never meet, and a fit of the same data resumes."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

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
def test_other_data_trains_in_its_own_directory_and_the_same_data_resumes(vector_df, tmp_path):
    """A fit of other rows of the same count resumed the first fit's finished checkpoint and
    returned the first model; then it was refused ('belongs to a different training
    setup'); now it trains in a directory of its own beside the first one's."""
    root = tmp_path / "ckpt"
    clf = DlcoreClassifier(**FAST, checkpointDir=str(root))
    first = clf.fit(vector_df)
    flipped = clf.fit(vector_df.withColumn("label", 1.0 - F.col("label")))
    assert not np.array_equal(flipped.weights, first.weights)
    assert len(list(root.glob("member-00/setup-*/LATEST.json"))) == 2
    again = clf.fit(vector_df)  # the same rows: the finished checkpoint is resumed
    np.testing.assert_array_equal(again.weights, first.weights)
    assert len(list(root.glob("member-00/setup-*"))) == 2


@pytest.mark.spark
def test_cross_validator_folds_and_param_maps_get_checkpoint_directories_of_their_own(
    vector_df, tmp_path
):
    """One checkpointDir for every fit CrossValidator makes (2 folds x 2 param maps + 1): each
    fit keeps its checkpoints in a subdirectory of its own, so no fit meets another's
    checkpoint (with the data digest in the fingerprint fold 2 met fold 1's and was refused,
    'belongs to a different training setup'; before it, it resumed it). A CrossValidator run
    again with the same folds resumes each fit's finished checkpoint: the same metrics."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    root = tmp_path / "ckpt"
    clf = DlcoreClassifier(**FAST, checkpointDir=str(root))
    grid = ParamGridBuilder().addGrid(clf.learningRate, [0.05, 0.02]).build()
    evaluator = BinaryClassificationEvaluator(metricName="areaUnderPR")
    cv = CrossValidator(estimator=clf, estimatorParamMaps=grid, evaluator=evaluator,
                        numFolds=2, parallelism=1, seed=3)  # fmt: skip
    first = cv.fit(vector_df)
    fits = sorted(p.parent.name for p in root.glob("member-00/setup-*/LATEST.json"))
    # one per (fold, param map), and CrossValidator's last fit: the best params on all rows
    assert len(fits) == 2 * 2 + 1, fits
    again = cv.fit(vector_df)
    assert sorted(p.name for p in root.glob("member-00/setup-*")) == fits  # resumed, none added
    # the same models: the best one's weights to the bit; the metrics to 1e-12 only, since
    # Spark's areaUnderPR sums its curve with RDD.aggregate, whose driver-side combine
    # takes the partitions' sums in the order their tasks finish (the full suite under
    # load saw 0.x...604 vs 0.x...605)
    np.testing.assert_array_equal(again.bestModel.weights, first.bestModel.weights)
    assert again.avgMetrics == pytest.approx(first.avgMetrics, rel=1e-12, abs=0)
