"""The estimators inside Spark ML: Pipeline, persistence, TrainValidationSplit,
CrossValidator, evaluator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit
from pyspark.sql import functions as F

from fraud_app.errors import ModelLoadError
from fraud_app.ml import (
    BalancedBaggingClassificationModel,
    BalancedBaggingClassifier,
    DlcoreClassificationModel,
    DlcoreClassifier,
)
from tests.fraud_app.ml.conftest import FAST

pytestmark = pytest.mark.spark


def _pipeline(clf):
    return Pipeline(
        stages=[
            VectorAssembler(inputCols=list("abcd"), outputCol="raw"),
            StandardScaler(inputCol="raw", outputCol="features"),
            clf,
        ]
    )


def _scores(df):
    rows = df.orderBy("id").collect()
    return [r.prediction for r in rows], np.array([r.probability[1] for r in rows])


@pytest.mark.parametrize(
    ("clf", "cls"),
    [
        pytest.param(DlcoreClassifier(**FAST), DlcoreClassificationModel, id="single"),
        pytest.param(
            BalancedBaggingClassifier(**FAST, numSubsets=2),
            BalancedBaggingClassificationModel,
            id="bagging",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_pipeline_fits_saves_and_loads_in_a_new_session(spark, raw_df, tmp_path, clf, cls):
    model = _pipeline(clf).fit(raw_df)
    before = _scores(model.transform(raw_df))
    path = str(tmp_path / "pipeline")
    model.write().overwrite().save(path)

    stage_dirs = sorted((tmp_path / "pipeline" / "stages").iterdir())
    ours = stage_dirs[-1]
    meta = json.loads(next((ours / "metadata").glob("part-*")).read_text())
    assert meta["class"] == f"{cls.__module__}.{cls.__name__}"
    assert meta["paramMap"]["hiddenLayers"] == [8]
    files = {p.suffix for p in ours.rglob("*") if p.is_file()}
    assert ".npz" in files and ".json" in files
    assert not {".pkl", ".pickle"} & files

    fresh = spark.newSession()  # a new SparkSession: nothing cached from the writer
    loaded = PipelineModel.read().session(fresh).load(path)
    assert isinstance(loaded.stages[-1], cls)
    again = fresh.createDataFrame(raw_df.toPandas())
    predictions, probabilities = _scores(loaded.transform(again))
    assert predictions == before[0]
    # equal up to float32 rounding: dlcore may pick another BLAS backend in another worker
    np.testing.assert_allclose(probabilities, before[1], rtol=1e-5, atol=1e-6)


def test_model_save_and_load_round_trip(fitted, vector_df, tmp_path):
    path = str(tmp_path / "m")
    fitted.write().save(path)
    loaded = DlcoreClassificationModel.load(path)
    assert loaded.uid == fitted.uid and loaded.getHiddenLayers() == fitted.getHiddenLayers()
    np.testing.assert_array_equal(loaded.weights, fitted.weights)
    with pytest.raises(ModelLoadError, match="expected 'fraud_app.ml.bagging"):
        BalancedBaggingClassificationModel.load(path)


def test_estimator_saves_its_params(tmp_path):
    clf = DlcoreClassifier(hiddenLayers=[3], posWeight=4.0)
    clf.save(str(tmp_path / "est"))
    back = DlcoreClassifier.load(str(tmp_path / "est"))
    assert back.getHiddenLayers() == [3] and back.getPosWeight() == 4.0 and back.uid == clf.uid


def test_train_validation_split_picks_a_model_by_area_under_pr(vector_df):
    clf = DlcoreClassifier(**FAST)
    grid = ParamGridBuilder().addGrid(clf.hiddenLayers, [[2], [8]]).build()
    evaluator = BinaryClassificationEvaluator(metricName="areaUnderPR")
    tvs = TrainValidationSplit(
        estimator=clf,
        estimatorParamMaps=grid,
        evaluator=evaluator,
        trainRatio=0.7,
        parallelism=1,
        seed=3,
    )
    fitted = tvs.fit(vector_df)
    assert len(fitted.validationMetrics) == 2
    assert all(0 < m <= 1 for m in fitted.validationMetrics)
    best = int(np.argmax(fitted.validationMetrics))
    assert fitted.bestModel.getHiddenLayers() == grid[best][clf.hiddenLayers]
    assert 0 < evaluator.evaluate(fitted.transform(vector_df)) <= 1


@pytest.mark.slow  # 2 folds x 2 grid points + the refit = 5 fits
def test_cross_validator_with_a_two_point_grid_and_two_folds(vector_df):
    clf = DlcoreClassifier(**FAST)
    grid = ParamGridBuilder().addGrid(clf.hiddenLayers, [[2], [8]]).build()
    evaluator = BinaryClassificationEvaluator(metricName="areaUnderPR")
    cv = CrossValidator(
        estimator=clf,
        estimatorParamMaps=grid,
        evaluator=evaluator,
        numFolds=2,
        parallelism=1,
        collectSubModels=True,
        seed=3,
    )
    fitted = cv.fit(vector_df)
    assert len(fitted.avgMetrics) == 2 and all(0 < m <= 1 for m in fitted.avgMetrics)
    assert [len(fold) for fold in fitted.subModels] == [2, 2]
    best = int(np.argmax(fitted.avgMetrics))
    assert isinstance(fitted.bestModel, DlcoreClassificationModel)
    assert fitted.bestModel.getHiddenLayers() == grid[best][clf.hiddenLayers]
    # the best configuration is refitted on all rows: more iterations than on one fold's half
    refit, fold = fitted.bestModel.history[0], fitted.subModels[0][best].history[0]
    assert refit["iterations"] > fold["iterations"]
    assert 0 < evaluator.evaluate(fitted.transform(vector_df)) <= 1


def test_validation_column_drives_early_stopping(vector_df):
    df = vector_df.withColumn("is_val", F.col("id") >= 220)
    clf = DlcoreClassifier(
        **{**FAST, "epochs": 6.0}, validationIndicatorCol="is_val", earlyStoppingPatience=2
    )
    model = clf.fit(df)
    run = model.history[0]
    assert run["validation"] and run["best_iteration"] is not None
    assert all(0 <= v["average_precision"] <= 1 for v in run["validation"])
