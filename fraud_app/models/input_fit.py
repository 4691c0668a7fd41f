"""What the members' input layers are fitted on: feature statistics (one Spark pass,
partial sums per partition) for Standardize, and the seeded sample the input encoding's
quantile bins (PiecewiseLinear) are fitted on.

Owns: those two reads and fitting the encoding's state. Does not own: the member loop
(fraud_app.models.train) or the model's layers (dlcore.layers).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from dlcore.layers import PiecewiseLinear, quantile_edges
from fraud_app.errors import EmptyInputError
from fraud_app.features.moments import MomentSums, combine_moments, require_finite_moments
from fraud_app.spark.validation_rows import collect_validation


def _partial_moments(features_col: str):
    """One partial (n, s1, s2) per partition with rows (MomentSums): a partial per Arrow
    batch made the driver's share grow with the rows."""

    def fn(batches: Iterator):
        import pyarrow as pa

        sums = MomentSums()
        for batch in batches:
            if batch.num_rows:
                sums.add(batch.column(features_col))
        if sums.n:
            yield pa.RecordBatch.from_arrays(
                [pa.array([sums.n]), pa.array([sums.s1.tolist()]), pa.array([sums.s2.tolist()])],
                ["n", "s1", "s2"],
            )

    return fn


def feature_statistics(
    df, features_col: str = "features", names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of every feature, in one Spark pass. With `names`, a
    feature whose values are infinite in the float32 vector is refused, named."""
    parts = (
        df.select(features_col)
        .mapInArrow(_partial_moments(features_col), "n long, s1 array<double>, s2 array<double>")
        .collect()
    )
    stats = combine_moments(
        [p["n"] for p in parts], [p["s1"] for p in parts], [p["s2"] for p in parts]
    )
    if names is not None:
        require_finite_moments(names, *stats)
    return stats


ENCODING_SAMPLE_ROWS = 20_000  # about this many rows fit the input encoding's bins


def sample_fraction(rows: int, max_rows: int = ENCODING_SAMPLE_ROWS) -> float:
    """The Bernoulli fraction `feature_sample` draws from `rows` rows (1.0: every row)."""
    return max_rows / rows if rows > max_rows else 1.0


def feature_sample(
    df,
    features_col: str,
    label_col: str,
    *,
    max_rows: int = ENCODING_SAMPLE_ROWS,
    seed: int = 0,
    rows: int | None = None,
) -> np.ndarray:
    """Up to about `max_rows` feature vectors of `df` (a seeded Bernoulli sample), on the
    driver: what the input encoding's quantile bins are fitted on. rows: the row count of
    `df` when the caller knows it (else one Spark count). The train step draws the same
    rows in its feature check's pass (fraud_app.features.checks.check_window `sample`)."""
    rows = df.count() if rows is None else rows
    fraction = sample_fraction(rows, max_rows)
    if fraction < 1.0:
        df = df.sample(withReplacement=False, fraction=fraction, seed=seed)
    return collect_validation(df, features_col=features_col, label_col=label_col).X


def encoding_state(model, sample: np.ndarray) -> dict[str, np.ndarray] | None:
    """The PiecewiseLinear state (quantile bins of the STANDARDISED sample) for a model
    built by build_model, or None when it has no input encoding. Call after
    set_statistics; every member gets the same bins (set with load_state)."""
    layers = model.layer.layers
    if len(layers) < 2 or not isinstance(layers[1], PiecewiseLinear):
        return None
    if len(sample) == 0:
        raise EmptyInputError("cannot fit the input encoding: the training sample has no rows")
    z, _ = layers[0].forward(np.asarray(sample, dtype=model.params.dtype), False)
    lower, inv_width = quantile_edges(z, layers[1].bins)
    return {"lower": lower, "inv_width": inv_width}


def set_encoding(model, state: dict[str, np.ndarray] | None) -> None:
    if state is not None:
        model.layer.layers[1].load_state(state)
