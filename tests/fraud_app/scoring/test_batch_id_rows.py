"""The batch scorer's id error names rows of the Arrow batch (what the Spark job's failure
says): with `scoring.nonfinite: null` the rows with NaN are left out before scoring, and the
error named the bad row's position among the rows left (2 for the batch's row 4). No Spark:
the scorer's per-batch function is called directly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dlcore.errors import ShapeError
from dlcore.layers import FeatureEmbedding, Linear, ReLU, Sequential
from dlcore.model import Model
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import ScoringOptions, score_arrow_column

CHECKED = r"in 1 of the 4 rows checked \(positions \[4\] in this batch of 6 rows\)$"


def _ensemble() -> FraudEnsemble:
    layers = Sequential([FeatureEmbedding([1], [4], 2), Linear(3), ReLU(), Linear(1)])
    return FraudEnsemble([Model(layers, in_features=3, seed=0)], ["amount", "country", "h"], {})


def _column(X: np.ndarray) -> pa.Array:
    return pa.array(X.astype(np.float32).tolist(), pa.list_(pa.float32()))


def test_an_unseen_category_after_left_out_rows_is_named_by_its_row_in_the_batch():
    X = np.zeros((6, 3))
    X[[0, 2], 0] = np.nan  # left out (null scores) before the model sees the rows
    X[4, 1] = 4.0  # an unseen country: row 4 of the batch, row 2 of the rows scored
    with pytest.raises(ShapeError, match=CHECKED):
        score_arrow_column(_column(X), _ensemble(), ScoringOptions(nonfinite="null"))
    with pytest.raises(ShapeError, match=CHECKED):
        score_arrow_column(
            _column(X), _ensemble(), ScoringOptions(nonfinite="null", members=True, reasons=2)
        )
    X[[0, 2], 0] = 0.0  # nothing left out: positions as they were
    with pytest.raises(ShapeError, match=r"in 1 of 6 rows \(positions \[4\] in this batch\)$"):
        score_arrow_column(_column(X), _ensemble(), ScoringOptions())
