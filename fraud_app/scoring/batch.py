"""Batch scoring: add a fraud score column to a DataFrame with a feature-vector column.

The ensemble travels to executors once per job as a broadcast of plain arrays
and JSON configs, is rebuilt once per Python worker (cached by a content key),
and scores Arrow batches with vectorised NumPy. No per-row Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

from fraud_app.errors import SchemaError
from fraud_app.models.ensemble import FraudEnsemble

_ENSEMBLES: dict[str, FraudEnsemble] = {}


def _payload_key(payload) -> str:
    h = hashlib.sha256()
    for m in payload["members"]:
        h.update(m["params"].tobytes())
    return h.hexdigest()


def broadcast_ensemble(spark, ensemble: FraudEnsemble):
    """(content key, broadcast of plain arrays + JSON configs) for executor-side scoring."""
    payload = ensemble.to_payload()
    return _payload_key(payload), spark.sparkContext.broadcast(payload)


def executor_ensemble(key: str, bc) -> FraudEnsemble:
    """The broadcast ensemble, rebuilt once per Python worker (cached by its content key)."""
    model = _ENSEMBLES.get(key)
    if model is None:
        _ENSEMBLES.clear()
        model = _ENSEMBLES[key] = FraudEnsemble.from_payload(bc.value)
    return model


def score_dataframe(
    df, ensemble: FraudEnsemble, *, features_col: str = "features", score_col: str = "fraud_score"
):
    """df + `score_col` (double): the ensemble's mean fraud probability for each row."""
    from pyspark.sql import types as T

    if features_col not in df.columns:
        raise SchemaError(
            f"cannot score: column {features_col!r} is missing. Available: {df.columns}"
        )
    if not isinstance(df.schema[features_col].dataType, T.ArrayType):
        raise SchemaError(f"cannot score: column {features_col!r} must be array<float|double>")
    key, bc = broadcast_ensemble(df.sparkSession, ensemble)
    width = len(ensemble.feature_names)
    out_schema = T.StructType([*df.schema.fields, T.StructField(score_col, T.DoubleType())])

    def score(batches: Iterator):
        import pyarrow as pa

        model = executor_ensemble(key, bc)
        for batch in batches:
            n = batch.num_rows
            flat = batch.column(features_col).flatten().to_numpy(zero_copy_only=False)
            if flat.size != n * width:
                raise SchemaError(
                    f"feature vectors must have {width} values (the model's features)"
                )
            X = flat.astype(np.float32, copy=False).reshape(n, width)
            scores = model.predict_proba(X) if n else np.zeros(0)
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.array(scores, pa.float64())], [*batch.schema.names, score_col]
            )

    return df.mapInArrow(score, out_schema)
