"""The ensemble as an MLflow pyfunc model, logged FROM CODE (this file is the model's code).

MLflow copies this file into the model and runs it at load time; `set_model` at the
bottom names the model object. Nothing is pickled: the weights stay the ensemble
directory (ensemble.json + .npz), the model's artifact named "ensemble".

Input: a pandas DataFrame with one numeric (float64) column per feature name, as the
model's signature lists them; MLflow enforces the signature, so the column names
must match the model's feature names. Output: the fraud score per row
(float64, the mean member probability), the same numbers as
fraud_app.scoring.batch.score_dataframe on the same rows. A row with a NaN (a JSON null),
an infinite value or one beyond the float32 range is refused, as the batch scorer refuses it
(`scoring.nonfinite: error`): it was scored, NaN (a served `{"fraud_score": NaN}`, not
JSON) or a number from the clipped infinity, with HTTP 200. The error is an MlflowException
(INVALID_PARAMETER_VALUE: HTTP 400 from `mlflow models serve`) naming rows and features
(rows by position, 0 = the first). So is an id outside an embedding's table (a category
unseen in training), naming the feature and rows: the whole batch is refused, never
scored around the bad row. A string that is no number, or a missing or misnamed column,
is refused by MLflow's signature check before `predict` (naming the column); columns are
read by name (order and extra columns do not matter); MLflow reads an int32 column as
double but refuses an int64 one (pandas' default) unless all its values are 0 or 1: cast
integer columns to float64 first. The scores keep the input's index. `mlflow.pyfunc.spark_udf`:
call `udf()` or `udf(struct(...))` (read by name); separate column arguments are named by
MLflow by their position in the signature, whatever their own names (README).
"""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


class EnsembleModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from fraud_app.models.ensemble import FraudEnsemble

        self.ensemble = FraudEnsemble.load(context.artifacts["ensemble"])

    # The input's type hint is pandas' DataFrame: MLflow then enforces the logged signature
    # (one float column per feature) and does not try to infer another schema from the
    # hint; without a hint it warned at every import of this file, at logging and loading.
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.Series:
        names = self.ensemble.feature_names
        missing = [n for n in names if n not in model_input.columns]
        if missing:
            raise ValueError(
                f"model input lacks feature columns {missing}; expected one float column per "
                f"feature name: {names}"
            )
        # The feature table stores float32; scoring casts to float32 exactly as Spark does.
        with np.errstate(over="ignore"):  # a double beyond float32: inf, refused below
            X = model_input[names].to_numpy(dtype=np.float64).astype(np.float32)
        _refuse_nonfinite(X, names)
        from dlcore.errors import ShapeError

        try:
            scores = self.ensemble.predict_proba(X)
        except ShapeError as exc:  # an embedding's id outside its table: an unseen category
            raise _refused_ids(exc, names) from None
        # the input's index: `frame["score"] = model.predict(frame)` aligns on it, and a
        # shuffled or filtered frame got each row another row's score (or NaN)
        return pd.Series(scores, index=model_input.index, name="fraud_score")


def _refused_ids(exc: Exception, names: list[str]) -> MlflowException:
    """The batch scorer fails the job on an id outside an embedding's table (dlcore's
    ShapeError naming the column and rows); served, it was HTTP 400 "Encountered an
    unexpected error while evaluating the model" without the reason. An embedding layer
    comes first in its model (dlcore refuses it elsewhere), so its column j is feature j."""
    why = re.sub(
        r"column (\d+)",
        lambda m: f"column {m[1]} ({names[int(m[1])]!r})" if int(m[1]) < len(names) else m[0],
        str(exc),
    )
    return MlflowException(
        f"{why}: a categorical feature holds an id the model has no embedding for (a category "
        "unseen in training, or a value that is no id); no row of the batch is scored, as "
        "the batch scorer fails on it too",
        error_code=INVALID_PARAMETER_VALUE,
    )


def _refuse_nonfinite(X: np.ndarray, names: list[str]) -> None:
    """The batch scorer's default (`scoring.nonfinite: error`) for NaN / infinite features."""
    finite = np.isfinite(X)
    if finite.all():  # one pass; the per-row reduction below took ~5% of scoring 10^5 rows
        return
    bad = ~finite
    rows = np.flatnonzero(bad.any(axis=1))
    cols = [names[j] for j in np.flatnonzero(bad.any(axis=0))]
    infinite = [names[j] for j in np.flatnonzero(np.isinf(X).any(axis=0))]
    shown = f"{rows[:10].tolist()}{'...' if len(rows) > 10 else ''}"
    why = (  # as the batch scorer says it: only when a column holds an infinity
        f"; {', '.join(infinite)}: the model reads float32 features, where a value beyond "
        f"+-{np.finfo(np.float32).max:.3g} is infinite"
        if infinite
        else ""
    )
    raise MlflowException(
        f"{len(rows)} of {len(X)} rows have NaN, missing or infinite features {cols} (rows "
        f"{shown}{why}): expected a finite number in every feature column, as the batch "
        "scorer requires (scoring.nonfinite: error); such a row has no fraud score",
        error_code=INVALID_PARAMETER_VALUE,
    )


mlflow.models.set_model(EnsembleModel())
