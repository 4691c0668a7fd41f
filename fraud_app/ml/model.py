"""What the fitted dlcore models share: executor-side scoring and the Spark ML outputs.

`transform(df)` keeps every input column and appends, like Spark's own binary classifiers:

    rawPredictionCol  VectorUDT  [-z, z], z = logit of the fraud probability
    probabilityCol    VectorUDT  [1 - p, p]
    predictionCol     double     1.0 when p > threshold, else 0.0

Scoring runs on the executors in Arrow batches: the ensemble travels once per job as a
broadcast of plain arrays (fraud_app.scoring.batch), is rebuilt once per Python worker,
and an Arrow UDF scores each batch with vectorised NumPy. Setting an output column
param to "" leaves that column out (as in Spark).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark.ml import Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import DenseVector, Vectors
from pyspark.ml.util import MLReadable, MLWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dlcore.inference import mean_sigmoid
from fraud_app.errors import ConfigError, SchemaError
from fraud_app.ml.data import (
    check_feature_order,
    check_width,
    features_array,
    require_dataframe,
    spark_column,
)
from fraud_app.ml.params import DlcoreParams
from fraud_app.ml.persistence import EnsembleModelReader, EnsembleModelWriter
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import (
    broadcast_ensemble,
    column_key,
    executor_ensemble,
    taken_columns,
)
from fraud_app.spark.arrow_udfs import arrow_udf


def probabilities_and_logits(
    ensemble: FraudEnsemble, X: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(p, z): the ensemble's mean probability, `ensemble.predict_proba(X)` bit for bit (the
    scores of `fraud-app score`, the pyfunc model), and its logit (one member: its logit).

    Several members: z = log(mean p_k) - log(mean (1 - p_k)), from the members' logits in
    log space, so z ranks the rows as p does and goes on telling them apart where p rounds
    to 1.0 (the logit of p clipped to 1 - 1e-15 gave every p above that one z: the
    rawPrediction a BinaryClassificationEvaluator ranks tied rows p told apart)."""
    # every count of members from the ensemble's own logits: one member was scored by its
    # own predict (float32 BLAS, not the fused plan), up to 8e-8 from predict_proba
    logits = ensemble.member_logits(X)
    p = mean_sigmoid(logits)  # ensemble.predict_proba(X), from the same logits
    if logits.shape[1] == 1:
        return p, np.ascontiguousarray(logits[:, 0])
    # log sigmoid(l) = -log(1 + e^-l), log (1 - sigmoid(l)) = -log(1 + e^l)
    z = _log_sum_exp(-np.logaddexp(0.0, -logits)) - _log_sum_exp(-np.logaddexp(0.0, logits))
    return p, z


def _log_sum_exp(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=1)) without overflow; -inf for a row of -inf only (every
    member's logit +-inf: -inf - -inf was NaN, a NaN rawPrediction where p is 0 or 1)."""
    top = a.max(axis=1)
    top = np.where(np.isneginf(top), 0.0, top)
    with np.errstate(divide="ignore"):  # log(0): -inf, the sum of nothing
        return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def _width_error(what: str, column: str, lengths: np.ndarray, width: int) -> SchemaError:
    """The error a scoring task raises for rows of another width than the model's: the
    check before the action could not read the width (a shuffle comes first)."""
    found, counts = np.unique(lengths[lengths != width], return_counts=True)
    rows = ", ".join(
        f"{int(c)} row(s) of {int(w)}" for w, c in zip(found[:5], counts[:5], strict=True)
    )
    return SchemaError(
        f"{what}: features column {column!r} has rows of another width than the model's "
        f"{width} (the width it was trained on): in one batch of {len(lengths)} rows, {rows}. "
        "Assemble the same features, in the same order, as for fit"
    )


def _nonfinite_error(what: str, column: str, nulls: int, flat: np.ndarray, n: int):
    """Null elements (read as NaN) and NaN / infinite values, counted apart."""
    bad = int((~np.isfinite(flat)).sum())
    found = f"{nulls} null element(s)" if nulls else ""
    if bad > nulls:
        found += (" and " if nulls else "") + f"{bad - nulls} NaN or infinite value(s)"
    return SchemaError(
        f"{what}: features column {column!r} holds {found} in one batch of {n} rows; impute "
        "them (e.g. pyspark.ml.feature.Imputer) or drop those rows before transform"
    )


def _scorer(key: str, bc, width: int, column: str, what: str):
    def score(features):
        import pyarrow as pa
        import pyarrow.compute as pc

        n = len(features)
        if features.null_count:
            raise SchemaError(
                f"{what}: features column {column!r} has {features.null_count} null row(s) "
                f"in one batch of {n} rows; drop or impute them (e.g. "
                f"df.na.drop(subset=[{column!r}])) before transform"
            )
        # every row's length, not the batch's total: rows of 3 and 5 values beside rows of
        # 4 summed to n * 4 and were scored, each reading its neighbour's values
        lengths = pc.list_value_length(features).to_numpy(zero_copy_only=False)
        if (lengths != width).any():
            raise _width_error(what, column, lengths, width)
        values = features.flatten()
        flat = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        if not np.isfinite(flat).all():
            raise _nonfinite_error(what, column, values.null_count, flat, n)
        if n == 0:
            p = z = np.zeros(0)
        else:
            p, z = probabilities_and_logits(executor_ensemble(key, bc), flat.reshape(n, width))
        return pa.StructArray.from_arrays(
            [pa.array(p, pa.float64()), pa.array(z, pa.float64())], ["p", "z"]
        )

    return score


class EnsembleClassificationModel(Model, DlcoreParams, MLReadable, MLWritable):
    """A fitted FraudEnsemble (one or more dlcore networks) as a Spark ML Model."""

    def __init__(self, ensemble: FraudEnsemble | None = None, history: list | None = None) -> None:
        super().__init__()
        self.ensemble = ensemble
        self.history: list[Any] = history or []
        self.fit_seconds: dict[str, float] = {}  # set by fit: total and training
        # set by fit with refit: the validation AP of the ensemble before the refit (the
        # refit ensemble trained on those rows); like history, not saved with the model
        self.validation_ap: float | None = None

    def fitted_ensemble(self, what: str) -> FraudEnsemble:
        """The networks; a model built without them (`DlcoreClassificationModel()`) is named
        (transform and save failed with AttributeError "'NoneType' object has no attribute
        'feature_names'"; an overwrite() save had removed the old model by then)."""
        if self.ensemble is None:
            cls = type(self).__name__
            raise ConfigError(
                f"{cls}.{what}: this model holds no networks (it was built without an "
                f"ensemble); use the model fit(df) returns, or {cls}.load(path)"
            )
        return self.ensemble

    @property
    def numFeatures(self) -> int:
        return len(self.fitted_ensemble("numFeatures").feature_names)

    @property
    def numClasses(self) -> int:
        return 2

    def predict_numpy(self, X: np.ndarray) -> np.ndarray:
        """Fraud probabilities of a NumPy matrix on the driver (small data, tests, notebooks).
        NaN or infinite features are refused, as transform and predictProbability refuse
        them (it returned NaN probabilities for those rows without a word)."""
        X = np.asarray(X, np.float32)
        finite = np.isfinite(X)
        if not finite.all():
            rows = np.flatnonzero(~finite.reshape(len(X), -1).all(axis=1)) if X.ndim else [0]
            raise SchemaError(
                f"{type(self).__name__}.predict_numpy: {int(finite.size - finite.sum())} NaN "
                f"or infinite value(s) in {len(rows)} row(s) (e.g. row {int(rows[0])}); impute "
                "them or drop those rows"
            )
        return probabilities_and_logits(self.fitted_ensemble("predict_numpy"), X)[0]

    # One feature vector on the driver, as Spark's ProbabilisticClassificationModel scores
    # one (`model.predict(Vectors.dense(...))`): the same values as a transform row.
    def predictRaw(self, value) -> DenseVector:
        z = self._one_row(value, "predictRaw")[1]
        return Vectors.dense([-z, z])

    def predictProbability(self, value) -> DenseVector:
        p = self._one_row(value, "predictProbability")[0]
        return Vectors.dense([1.0 - p, p])

    def predict(self, value) -> float:
        self.check_threshold()
        return float(self._one_row(value, "predict")[0] > self.getThreshold())

    def _one_row(self, value, what: str) -> tuple[float, float]:
        self.fitted_ensemble(what)
        x = np.asarray(value.toArray() if hasattr(value, "toArray") else value, np.float64)
        where = f"{type(self).__name__}.{what}"
        if x.ndim != 1 or x.size != self.numFeatures:
            raise SchemaError(
                f"{where}: expected one vector of {self.numFeatures} values (the width the "
                f"model was trained on). Received shape {x.shape}"
            )
        if not np.isfinite(x).all():
            raise SchemaError(f"{where}: the vector holds NaN or infinite values; impute them")
        p, z = probabilities_and_logits(self.ensemble, x.astype(np.float32).reshape(1, -1))
        return float(p[0]), float(z[0])

    def _transform(self, dataset: DataFrame) -> DataFrame:
        what = f"{type(self).__name__}.transform"
        require_dataframe(dataset, what)
        self.fitted_ensemble("transform")
        self.check_threshold()
        feats = features_array(dataset, self.getFeaturesCol(), what)
        # the column Spark reads for featuresCol (another case in a case-insensitive session)
        fcol = spark_column(dataset, self.getFeaturesCol()) or self.getFeaturesCol()
        outputs = [self.getRawPredictionCol(), self.getProbabilityCol(), self.getPredictionCol()]
        named = [c for c in outputs if c]
        key = column_key(dataset.sparkSession)  # `Prediction` is `prediction` by default
        if len({key(c) for c in named}) != len(named):
            raise SchemaError(
                f"{what}: rawPredictionCol, probabilityCol and predictionCol must be different "
                f'names (or "" to leave one out). Received {outputs}; one column would '
                "overwrite the other"
            )
        clash = taken_columns(dataset, named)  # also `Prediction` in a case-insensitive session
        if clash:
            raise SchemaError(
                f"{what}: output column(s) {clash} already exist; rename them or set "
                "rawPredictionCol / probabilityCol / predictionCol"
            )
        check_width(dataset, fcol, feats, self.numFeatures, what)
        check_feature_order(dataset, fcol, self.ensemble.feature_names, what)
        key, bc = broadcast_ensemble(dataset.sparkSession, self.ensemble)
        udf = arrow_udf(
            _scorer(key, bc, self.numFeatures, fcol, what), "p double, z double"
        ).asNondeterministic()  # evaluate once per row, even though three columns read it
        tmp = f"__{self.uid}_score"
        df = dataset.withColumn(tmp, udf(feats))
        p, z = F.col(tmp)["p"], F.col(tmp)["z"]
        exprs = {
            outputs[0]: array_to_vector(F.array(-z, z)),
            outputs[1]: array_to_vector(F.array(F.lit(1.0) - p, p)),
            outputs[2]: (p > F.lit(float(self.getThreshold()))).cast("double"),
        }
        for name, expr in exprs.items():
            if name:
                df = df.withColumn(name, expr)
        return df.drop(tmp)

    def write(self) -> EnsembleModelWriter:
        return EnsembleModelWriter(self)

    @classmethod
    def read(cls) -> EnsembleModelReader:
        return EnsembleModelReader(cls)
