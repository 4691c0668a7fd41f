"""Mean and standard deviation of a feature-vector column: partial sums per partition
(in the executors: each Arrow batch's sums added in batch order, `MomentSums`) and their
combination on the driver, in partition order. One partial per partition, not per Arrow
batch: per batch (10,000 rows) the driver received rows / 10,000 partials, ~2.4 KB of
Python each at 30 features, ~240 MB for a window of 10^9 rows (docs/PROBES.md, session 42).

One definition for both passes that compute them: fraud_app.models.train's
`feature_statistics` (a pass of its own) and the train step's feature check
(fraud_app.features.checks, which sums them beside its own figures, so that the
training window is read once for both). The same partitions' batches summed in the same
order give the same bits either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fraud_app.errors import EmptyInputError, SchemaError

FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4e38: beyond it a feature is infinite


def batch_moments(column) -> tuple[int, np.ndarray, np.ndarray]:
    """(rows, sum, sum of squares per feature) of one Arrow batch's list column of
    equal-length vectors, in float64."""
    n = len(column)
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    X = flat.reshape(n, flat.size // n)
    return n, X.sum(0), (X * X).sum(0)


class MomentSums:
    """A partition's running (rows, sum, sum of squares per feature), its batches added in
    order (`add`); `n == 0` until a batch with rows was added."""

    def __init__(self) -> None:
        self.n = 0
        self.s1: np.ndarray | None = None
        self.s2: np.ndarray | None = None

    def add(self, column) -> None:
        """Add one Arrow batch's list column (batch_moments)."""
        n, s1, s2 = batch_moments(column)
        self.n += n
        self.s1 = s1 if self.s1 is None else self.s1 + s1
        self.s2 = s2 if self.s2 is None else self.s2 + s2


def combine_moments(
    rows: Sequence[int], sums: Sequence, squares: Sequence
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) from the partitions' partial sums, in the order they were collected.
    Infinite values (a double beyond float32 in the vector) give non-finite figures without
    NumPy's warnings: `require_finite_moments` names them."""
    if not rows:
        raise EmptyInputError("cannot compute feature statistics: the training data has no rows")
    n = sum(rows)
    with np.errstate(invalid="ignore", over="ignore"):
        s1 = np.sum(sums, axis=0)
        s2 = np.sum(squares, axis=0)
        mean = s1 / n
        var = np.maximum(s2 / n - mean * mean, 0.0)
    return mean, np.sqrt(var)


def require_finite_moments(
    names: Sequence[str], mean: np.ndarray, std: np.ndarray, largest: np.ndarray | None = None
) -> None:
    """Refuse a training window whose float32 feature vector holds infinite values (their
    mean and std are not finite). Before, `train` ended in `Standardize 'standardize':
    mean/std must be finite` after the balancing, naming no feature and no cause: amounts
    of 1e39 (etl.bounds.max_amount raised) are finite doubles in the feature table and
    +inf in its float32 vector, without a word from `features`. `largest`: each feature's
    largest absolute double value in the table, when known (the feature check's pass)."""
    bad = [j for j in range(len(names)) if not (np.isfinite(mean[j]) and np.isfinite(std[j]))]
    if not bad:
        return
    shown = [
        names[j] + (f" (largest |value| {largest[j]:.3g})" if largest is not None else "")
        for j in bad[:8]
    ]
    more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
    raise SchemaError(
        f"{len(bad)} feature(s) of the training window hold values beyond the float32 range "
        f"(+-{FLOAT32_MAX:.3g}) of the feature vector the model reads, where they are "
        f"infinite: {', '.join(shown)}{more}. Expected finite float32 features: such values "
        "come from amounts near or above 3.4e38 or their window sums (etl.bounds.max_amount "
        "admits them when raised far above its default 1e10): lower etl.bounds.max_amount and "
        "run etl and features again, rescale the amounts (another currency unit), or remove "
        "these features from the specs"
    )
