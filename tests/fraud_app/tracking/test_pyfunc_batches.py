"""The pyfunc model on a batch where ONE row is bad: the whole batch is refused with an
error naming the row(s) and the feature, as the batch scorer fails the job on it; the other
rows are never scored around it. And the input's layout: columns by name, any order, extra
columns ignored, integer columns read as floats.

Real MLflow (sqlite store, the logged model loaded back, the scoring server's own request
handler); no Spark: the batch scorer's per-batch function is called directly.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

from dlcore.errors import ShapeError
from dlcore.layers import FeatureEmbedding, Linear, ReLU, Sequential
from dlcore.model import Model
from fraud_app.models.ensemble import FraudEnsemble
from fraud_app.scoring.batch import ScoringOptions, score_arrow_column
from fraud_app.tracking.runs import start_training_run
from tests.fraud_app.tracking import helpers as h

pytestmark = pytest.mark.integration
NAMES = ["amount", "country_id", "hour"]
X = np.array([[1.0, 0, 3], [2.0, 3, 4], [0.5, 1, 5], [3.0, 2, 1]])


def _ensemble() -> FraudEnsemble:
    """Two members reading `country_id` (4 categories) through an embedding."""

    def layers() -> Sequential:
        return Sequential([FeatureEmbedding([1], [4], 2), Linear(3), ReLU(), Linear(1)])

    members = [Model(layers(), in_features=3, seed=k) for k in range(2)]
    return FraudEnsemble(members, NAMES, {})


@pytest.fixture(scope="module")
def served(tmp_path_factory, mlflow_template):
    root = tmp_path_factory.mktemp("pyfunc-batches")
    mlflow_template.copy_to(root)
    cfg = h.config(root, **{"tracking.uri": f"sqlite:///{root}/mlflow.db"})
    ensemble = _ensemble()
    model_dir = ensemble.save(root / "models" / "m")
    with start_training_run(cfg, "batches") as tracker:
        info = tracker.log_model(model_dir, NAMES, X, registered_name=None)
    return mlflow.pyfunc.load_model(info.model_uri), ensemble


def _invoke(model, rows):
    body = json.dumps({"dataframe_split": {"columns": NAMES, "data": rows}})
    return scoring_server.invocations(
        body, "application/json", model, model.metadata.get_input_schema()
    )


@pytest.mark.parametrize("bad", [4.0, -1.0, 2.5], ids=["unseen", "negative", "fraction"])
def test_one_unseen_category_refuses_the_batch_naming_the_row_and_feature(served, bad):
    """Served, it was HTTP 400 "Encountered an unexpected error while evaluating the model"
    with no reason; in Python a ShapeError naming a layer's column 1 and the batch's range."""
    model, ensemble = served
    rows = X.tolist()
    rows[2][1] = bad
    with pytest.raises(MlflowException) as err:
        _invoke(model, rows)
    assert err.value.get_http_status_code() == 400
    message = str(err.value)
    assert "column 1 ('country_id'): ids must be integer" in message
    assert "in 1 of 4 rows (positions [2] in this batch)" in message
    assert "no row of the batch is scored" in message
    with pytest.raises(MlflowException, match=r"'country_id'.* \(positions \[2\] in this"):
        model.predict(pd.DataFrame(rows, columns=NAMES))
    # the batch scorer fails on the same rows too (the Spark job fails with this error)
    column = pa.array(np.asarray(rows, dtype=np.float32).tolist(), pa.list_(pa.float32()))
    with pytest.raises(ShapeError, match=r"column 1: .* \(positions \[2\] in this batch\)"):
        score_arrow_column(column, ensemble, ScoringOptions())


def test_columns_are_read_by_name_whatever_their_order_or_extras(served):
    """And integer columns: MLflow's signature check reads int32 as double, refuses int64
    (pandas' default) naming the column, unless the batch's values are all 0 or 1."""
    model, ensemble = served
    expected = ensemble.predict_proba(X.astype(np.float32))
    frame = pd.DataFrame(X, columns=NAMES)
    np.testing.assert_array_equal(model.predict(frame), expected)
    shuffled = frame[NAMES[::-1]].assign(note="x", extra=7.0)
    np.testing.assert_array_equal(model.predict(shuffled), expected)
    ints = frame.astype({"country_id": np.int32, "hour": np.int32})
    np.testing.assert_array_equal(model.predict(ints), expected)
    with pytest.raises(MlflowException, match=r"column hour. Can not safely convert int64"):
        model.predict(frame.astype({"hour": np.int64}))
    zero_one = frame.assign(hour=[0, 1, 1, 0]).astype({"hour": np.int64})
    np.testing.assert_array_equal(
        model.predict(zero_one), ensemble.predict_proba(zero_one.to_numpy(np.float32))
    )


def test_a_string_or_a_missing_column_is_refused_before_scoring(served):
    model, _ = served
    rows = X.tolist()
    rows[1][0] = "abc"
    with pytest.raises(MlflowException, match=r"convert column amount") as err:
        _invoke(model, rows)
    assert err.value.get_http_status_code() == 400
    with pytest.raises(MlflowException, match=r"missing inputs.*'hour'"):
        model.predict(pd.DataFrame(X, columns=NAMES).drop(columns=["hour"]))


def test_scores_keep_the_input_index_so_assigning_them_back_is_row_for_row(served):
    """A shuffled or filtered frame: `frame["score"] = model.predict(frame)` aligns on the
    index, and the scores came back with 0..n-1, so each row got another row's score."""
    model, ensemble = served
    frame = pd.DataFrame(X, columns=NAMES, index=[30, 10, 20, 0]).sample(frac=1, random_state=3)
    frame["score"] = model.predict(frame)
    expected = ensemble.predict_proba(frame[NAMES].to_numpy(np.float32))
    np.testing.assert_array_equal(frame["score"].to_numpy(), expected)


@pytest.mark.parametrize(
    "index",
    [
        pd.MultiIndex.from_arrays([["b", "a", "b", "a"], [2, 1, 1, 2]], names=["card", "n"]),
        pd.Index([7, 7, 3, 7]),  # duplicated labels
        pd.RangeIndex(4),
    ],
    ids=["multiindex", "duplicated-labels", "range"],
)
def test_scores_keep_a_multiindex_or_duplicated_labels(served, index):
    """The Series carries the input's own index object: with duplicated labels the
    assignment raised 'cannot reindex on an axis with duplicate labels' (0..n-1 against
    7, 7, 3, 7), and a MultiIndex frame got NaN scores."""
    model, ensemble = served
    frame = pd.DataFrame(X, columns=NAMES, index=index)
    scores = model.predict(frame)
    assert scores.index.equals(index) and scores.name == "fraud_score"
    frame["score"] = scores
    np.testing.assert_array_equal(
        frame["score"].to_numpy(), ensemble.predict_proba(X.astype(np.float32))
    )
