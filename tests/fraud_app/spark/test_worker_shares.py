"""The refusal of a worker left without rows says how many workers the rows allow.

Rows are dealt to the workers by their content (fraud_app.spark.data.to_training_blocks,
session 51): each worker's share is within `num_workers` rows of an equal one, so with
few rows a worker can get none even when there are more rows than workers (4 workers on
5 rows: 1, 3, 0 and 1 rows, measured). The refusal said "use fewer workers than rows",
advice the run already followed.
"""

from __future__ import annotations

import numpy as np
import pytest

from fraud_app.errors import EmptyInputError
from fraud_app.spark.summary import DataSummary, require_trainable


def _summary(rows: int) -> DataSummary:
    return DataSummary(rows, 1, (3,), 0, 0, 0, 0.0, np.zeros(3), np.zeros(3))


def test_an_empty_worker_with_more_rows_than_workers_names_how_many_workers_fit():
    with pytest.raises(EmptyInputError) as err:
        require_trainable(_summary(5), [1, 3, 0, 1], "features")
    text = str(err.value)
    assert "worker partition(s) [2] of 4 received no rows (5 rows in all" in text
    assert "dealt to the workers by their content" in text
    # every worker holds a row when rows > workers x (workers - 1): 2 x 1 < 5 <= 3 x 2
    assert text.endswith("use at most 2 worker(s) for 5 rows")


def test_fewer_rows_than_workers_names_one_worker_for_one_row():
    with pytest.raises(EmptyInputError, match=r"use at most 1 worker\(s\) for 1 rows$"):
        require_trainable(_summary(1), [0, 1], "features")
    require_trainable(_summary(7), [3, 4], "features")  # no empty worker: no refusal
