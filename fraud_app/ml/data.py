"""Input checks and preparation for the dlcore estimators.

`features_array` turns the features column (Spark `VectorUDT` or `array<float|double>`)
into the float array the trainer and the scorer read. `inspect_training_data` checks
a training DataFrame in ONE Spark pass (partial sums per Arrow batch, no per-row Python):
feature width, NaN/infinite features, null and non-binary labels, and it returns the
feature means and standard deviations the network's Standardize layer needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.errors import EmptyInputError, SchemaError

_NUMERIC = (T.FloatType, T.DoubleType, T.IntegerType, T.LongType, T.ShortType, T.ByteType)


def require_columns(df: DataFrame, columns: list[str | None], what: str) -> None:
    missing = [c for c in columns if c and c not in df.columns]
    if missing:
        raise SchemaError(
            f"{what}: column(s) {missing} not found. Available: {df.columns}. "
            "Set the matching *Col param or add the column."
        )


def features_array(df: DataFrame, col: str, what: str) -> Column:
    """The features column as array<float>; a clear error for any other type."""
    require_columns(df, [col], what)
    dtype = df.schema[col].dataType
    if isinstance(dtype, VectorUDT):
        return vector_to_array(F.col(col), "float32")
    if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.FloatType | T.DoubleType):
        return F.col(col).cast("array<float>")
    raise SchemaError(
        f"{what}: features column {col!r} must be a Spark ML vector or array<float|double>. "
        f"Received {dtype.simpleString()}; use VectorAssembler or F.array(...)."
    )


def require_numeric(df: DataFrame, col: str, what: str) -> None:
    dtype = df.schema[col].dataType
    if not isinstance(dtype, _NUMERIC):
        raise SchemaError(
            f"{what}: column {col!r} must be numeric. Received {dtype.simpleString()}"
        )


@dataclass(frozen=True)
class DataSummary:
    rows: int
    positives: int
    width: int
    mean: np.ndarray
    std: np.ndarray


def _batch_summary(features: str, label: str):
    def fn(batches: Iterator):
        import pyarrow as pa

        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            col = batch.column(features)
            lengths = col.value_lengths().to_numpy(zero_copy_only=False)
            flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
            y = batch.column(label).to_numpy(zero_copy_only=False).astype(np.float64)
            bad_label = ~np.isin(y, (0.0, 1.0))  # NaN (null) is bad too
            finite = np.isfinite(flat)
            width = int(lengths.min()) if lengths.size else 0
            same = bool(col.null_count == 0 and (lengths == width).all())
            X = flat.reshape(n, width) if same and flat.size == n * width else np.zeros((0, 0))
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([n]),
                    pa.array([int(col.null_count)]),
                    pa.array([int(lengths.min())]),
                    pa.array([int(lengths.max())]),
                    pa.array([int((~finite).sum())]),
                    pa.array([int(bad_label.sum())]),
                    pa.array([float(y[bad_label][0]) if bad_label.any() else 0.0]),
                    pa.array([int((y == 1.0).sum())]),
                    pa.array(
                        [np.where(finite.reshape(X.shape), X, 0).sum(0).tolist() if X.size else []],
                        pa.list_(pa.float64()),
                    ),
                    pa.array(
                        [
                            np.where(finite.reshape(X.shape), X * X, 0).sum(0).tolist()
                            if X.size
                            else []
                        ],
                        pa.list_(pa.float64()),
                    ),
                ],
                ["n", "nulls", "wmin", "wmax", "nonfinite", "badlab", "badval", "pos", "s1", "s2"],
            )

    return fn


_SUMMARY_SCHEMA = (
    "n long, nulls long, wmin long, wmax long, nonfinite long, badlab long, badval double, "
    "pos long, s1 array<double>, s2 array<double>"
)


def inspect_training_data(
    df: DataFrame, features: str, label: str, what: str, expected_width: int | None = None
) -> DataSummary:
    """One pass over (features array, label double): checks + feature moments."""
    parts = df.select(features, label).mapInArrow(_batch_summary(features, label), _SUMMARY_SCHEMA)
    rows = parts.collect()  # one small row per Arrow batch
    n = sum(r["n"] for r in rows)
    if n == 0:
        raise EmptyInputError(f"{what}: the training DataFrame has no rows")
    nulls = sum(r["nulls"] for r in rows)
    if nulls:
        raise SchemaError(
            f"{what}: features column {features!r} has {nulls} null rows; drop or impute them"
        )
    widths = {r["wmin"] for r in rows} | {r["wmax"] for r in rows}
    if len(widths) != 1:
        raise SchemaError(
            f"{what}: features column {features!r} holds vectors of different lengths {sorted(widths)}"
        )
    width = widths.pop()
    if expected_width is not None and width != expected_width:
        raise SchemaError(
            f"{what}: features column {features!r} has {width} values per row; expected {expected_width}"
        )
    bad = sum(r["nonfinite"] for r in rows)
    if bad:
        raise SchemaError(
            f"{what}: features column {features!r} holds {bad} NaN or infinite values; "
            "impute them (e.g. pyspark.ml.feature.Imputer) before fitting"
        )
    badlab = [r for r in rows if r["badlab"]]
    if badlab:
        raise SchemaError(
            f"{what}: label column {label!r} must hold only 0 and 1 (binary); "
            f"{sum(r['badlab'] for r in badlab)} rows do not (e.g. {badlab[0]['badval']})"
        )
    s1 = np.sum([r["s1"] for r in rows], axis=0)
    s2 = np.sum([r["s2"] for r in rows], axis=0)
    mean = s1 / n
    std = np.sqrt(np.maximum(s2 / n - mean * mean, 0.0))
    return DataSummary(n, sum(r["pos"] for r in rows), width, mean, std)
