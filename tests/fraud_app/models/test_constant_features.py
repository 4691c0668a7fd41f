"""A feature constant in a member's training data (a flag never set in the window) does not
move the trained ensemble's scores or reasons when it varies at scoring time (session 36
probe, docs/PROBES.md). Before, its first-layer weights kept their initial values: set to
1 in every test row, the flag moved scores by up to 0.32 and was named a reason in 75 of
300 rows."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
import pytest

from fraud_app.models.config import (
    DistributedSection,
    ModelSection,
    OptimizerSection,
    TrainingSection,
)
from fraud_app.models.train import EncodingRows, TrainingInputs, feature_statistics, train_ensemble
from fraud_app.scoring.batch import ScoringOptions, score_arrow_column
from fraud_app.spark.summary import DataSummary, summarize_arrays

D = 5
NAMES = ["amount_z", "count", "velocity", "is_new_flag", "rate_const"]


def _rows(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, D)) * [1, 10, 1, 0, 0] + [0, 5, 0, 0, 123.456]
    y = (rng.random(n) < 0.2).astype(float)
    X[y == 1, 0] += 2.5
    return [(X[i].astype(np.float32).tolist(), float(y[i])) for i in range(n)]


def _cfg(encoding: str) -> TrainingSection:
    return TrainingSection(
        model=ModelSection(hidden=(16,), dropout=0.0, encoding=encoding, encoding_bins=4),
        optimizer=OptimizerSection(learning_rate=1e-2),
        distributed=DistributedSection(
            num_workers=1,
            global_batch_size=32,
            iterations=40,
            epochs=None,
            group_size=20,
            scale_lr=False,
        ),
    )


@pytest.mark.spark
@pytest.mark.parametrize("encoding", ["none", "piecewise_linear"])
def test_a_feature_constant_in_training_moves_no_score_and_is_no_reason(spark, encoding, caplog):
    schema = "features array<float>, label double"
    subsets = [spark.createDataFrame(_rows(160, s), schema) for s in (1, 2)]
    window = subsets[0].unionByName(subsets[1])
    stats = feature_statistics(window)
    enc = EncodingRows(window) if encoding != "none" else None
    with caplog.at_level(logging.INFO, logger="fraud_app.models.train"):
        ens = train_ensemble(subsets, _cfg(encoding), TrainingInputs(NAMES, stats, encoding=enc))
    X = np.array([r[0] for r in _rows(300, 9)], dtype=np.float32)
    varied = X.copy()
    varied[:, 3] = 1.0  # the flag set in every scored row
    varied[::2, 4] = 124.0
    np.testing.assert_array_equal(ens.ensemble.predict_proba(varied), ens.ensemble.predict_proba(X))
    column = pa.array(varied.tolist(), pa.list_(pa.float32()))
    cols = score_arrow_column(column, ens.ensemble, ScoringOptions(reasons=3), baseline=stats[0])
    named = {name for c in cols[1:] for name in c.to_pylist()}
    assert "amount_z" in named and not named & {"is_new_flag", "rate_const"}
    assert "2 feature(s) held one value in its training data ['is_new_flag', 'rate_const']" in (
        caplog.text
    )


def test_the_summary_knows_which_features_held_one_value_in_every_part():
    X1 = np.array([[1.0, 0.0, 5.0], [2.0, 0.0, np.nan]], np.float32)
    X2 = np.array([[3.0, 0.0, 5.0]], np.float32)
    X3 = np.array([[4.0, 1.0, 5.0]], np.float32)
    parts = [summarize_arrays(X, np.zeros(len(X))) for X in (X1, X2)]
    both = DataSummary.combine(parts).constant_values()
    np.testing.assert_array_equal(both, [np.nan, 0.0, 5.0])  # NaN: not a value
    three = DataSummary.combine([*parts, summarize_arrays(X3, np.zeros(1))]).constant_values()
    np.testing.assert_array_equal(three, [np.nan, np.nan, 5.0])
    # a part that does not know its extremes (an older summary): none is known
    bare = DataSummary(1, 0, (3,), 0, 0, 0, 0.0, np.ones(3), np.ones(3))
    assert DataSummary.combine([*parts, bare]).constant_values() is None
