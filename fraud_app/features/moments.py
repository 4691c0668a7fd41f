"""Mean and standard deviation of a feature-vector column: partial sums per Arrow batch
(in the executors) and their combination on the driver.

One definition for both passes that compute them: fraud_app.models.train's
`feature_statistics` (a pass of its own) and the train step's feature check
(fraud_app.features.checks, which sums them beside its own figures, so that the
training window is read once for both). The same batches summed in the same order give
the same bits either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fraud_app.errors import EmptyInputError


def batch_moments(column) -> tuple[int, np.ndarray, np.ndarray]:
    """(rows, sum, sum of squares per feature) of one Arrow batch's list column of
    equal-length vectors, in float64."""
    n = len(column)
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    X = flat.reshape(n, flat.size // n)
    return n, X.sum(0), (X * X).sum(0)


def combine_moments(
    rows: Sequence[int], sums: Sequence, squares: Sequence
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) from the batches' partial sums, in the order the batches were collected."""
    if not rows:
        raise EmptyInputError("cannot compute feature statistics: the training data has no rows")
    n = sum(rows)
    s1 = np.sum(sums, axis=0)
    s2 = np.sum(squares, axis=0)
    mean = s1 / n
    var = np.maximum(s2 / n - mean * mean, 0.0)
    return mean, np.sqrt(var)
