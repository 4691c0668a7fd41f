"""The pyfunc model on rows the batch scorer refuses: NaN (a JSON null), inf, beyond float32.

Real MLflow (sqlite store, the logged model loaded back, the scoring server's own request
handler `mlflow.pyfunc.scoring_server.invocations`); no Spark: the batch scorer's refusal of
these rows is tested in tests/fraud_app/scoring.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

from fraud_app.tracking.logged_model import input_frame
from tests.fraud_app.tracking import helpers as h
from tests.fraud_app.tracking.test_pyfunc import log_mlp_ensemble

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tmp_path_factory, mlflow_template):
    root = tmp_path_factory.mktemp("pyfunc-inputs")
    X, _ = h.rows(6, seed=3)
    _, ensemble, info = log_mlp_ensemble(root, mlflow_template, X, "inputs", None)
    model = mlflow.pyfunc.load_model(info.model_uri)
    return model, ensemble, X


def _invoke(model, rows):
    body = json.dumps({"dataframe_split": {"columns": h.NAMES, "data": rows}})
    return scoring_server.invocations(
        body, "application/json", model, model.metadata.get_input_schema()
    )


@pytest.mark.parametrize(
    "bad", [None, "NaN", "Infinity", 1e39], ids=["null", "nan", "inf", "beyond_float32"]
)
def test_a_served_row_with_a_missing_or_infinite_feature_is_a_400_naming_it(served, bad):
    model, _, X = served
    rows = X[:3].astype(np.float64).tolist()
    rows[1][2] = bad
    # it answered 200 with {"fraud_score": NaN} (not JSON) or a score of the clipped inf
    with pytest.raises(MlflowException) as err:
        _invoke(model, rows)
    assert err.value.get_http_status_code() == 400
    assert "1 of 3 rows have NaN, missing or infinite features ['f2'] (rows [1]" in str(err.value)
    assert "expected a finite number in every feature column" in str(err.value)


def test_pandas_input_with_nan_is_refused_and_finite_rows_score_as_the_ensemble(served):
    model, ensemble, X = served
    frame = input_frame(X, h.NAMES)
    got = np.asarray(model.predict(frame), dtype=np.float64)
    np.testing.assert_array_equal(got, ensemble.predict_proba(X))
    answer = json.loads(_invoke(model, X.astype(np.float64).tolist()).response)
    np.testing.assert_array_equal(
        [p["fraud_score"] for p in answer["predictions"]], ensemble.predict_proba(X)
    )
    frame.iloc[[0, 4], [0, 3]] = np.nan
    with pytest.raises(MlflowException, match=r"2 of 6 rows .* \['f0', 'f3'\] \(rows \[0, 4\]"):
        model.predict(frame)


def test_only_an_infinite_column_gets_the_float32_note_as_in_the_batch_scorer(served):
    """Every refusal said `a value beyond +-3.4e38, the float32 range ..., is infinite`, also
    for a NaN or a null alone; the batch scorer says it only of the columns holding inf."""
    model, _, X = served
    rows = X[:3].astype(np.float64).tolist()
    rows[0][2] = None
    with pytest.raises(MlflowException) as err:
        _invoke(model, rows)
    assert "float32" not in str(err.value) and "(rows [0]): expected a finite" in str(err.value)
    rows[2][1] = 1e39
    with pytest.raises(MlflowException) as err:
        _invoke(model, rows)
    assert err.value.get_http_status_code() == 400
    assert (
        "2 of 3 rows have NaN, missing or infinite features ['f1', 'f2'] (rows [0, 2]; f1: the "
        "model reads float32 features, where a value beyond +-3.4e+38 is infinite)"
    ) in str(err.value)
