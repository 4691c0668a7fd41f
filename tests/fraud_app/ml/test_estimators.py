"""fit / transform contract of the dlcore estimators on a real local[2] Spark."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraud_app.errors import EmptyInputError, SchemaError
from fraud_app.ml import BalancedBaggingClassifier, DlcoreClassifier
from fraud_app.models.builders import build_loss, build_model, build_optimizer
from fraud_app.models.train import feature_statistics
from fraud_app.spark.trainer import DistributedTrainer
from tests.fraud_app.ml.conftest import FAST
from tests.spark_jobs import job_ids

pytestmark = pytest.mark.spark
# The job's workers compute with the driver's dlcore backend, but a BLAS result depends on the
# matrix shapes (the driver scores other batches than the executors) and two fits may differ
# in their float64 feature moments: float32 results agree to rounding, not bit for bit (the
# trainer's own tests use the same tolerance).
RTOL, ATOL = 1e-5, 1e-6


def _probs(df, col="probability"):
    return np.array([r[col][1] for r in df.orderBy("id").select(col).collect()])


def test_transform_keeps_inputs_and_adds_spark_typed_outputs(fitted, vector_df):
    out = fitted.transform(vector_df)
    assert out.columns == [*vector_df.columns, "rawPrediction", "probability", "prediction"]
    types = {f.name: f.dataType for f in out.schema.fields}
    assert isinstance(types["rawPrediction"], VectorUDT)
    assert isinstance(types["probability"], VectorUDT)
    assert isinstance(types["prediction"], T.DoubleType)
    rows = out.select("rawPrediction", "probability", "prediction").collect()
    assert out.count() == vector_df.count()
    for r in rows:
        p = r.probability
        assert len(p) == 2 and abs(p[0] + p[1] - 1) < 1e-12 and 0 <= p[1] <= 1
        assert r.rawPrediction[0] == -r.rawPrediction[1]
        assert (r.rawPrediction[1] > 0) == (p[1] > 0.5)
        assert r.prediction == float(p[1] > 0.5)


def test_model_learns_the_signal(fitted, vector_df):
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    auc = BinaryClassificationEvaluator(metricName="areaUnderROC").evaluate(
        fitted.transform(vector_df)
    )
    assert auc > 0.8


def test_threshold_and_disabled_outputs(fitted, vector_df):
    model = fitted.copy({fitted.threshold: 0.0}).setRawPredictionCol("").setPredictionCol("yhat")
    out = model.transform(vector_df)
    assert "rawPrediction" not in out.columns and {"probability", "yhat"} <= set(out.columns)
    assert out.where(F.col("yhat") != 1.0).count() == 0


def test_vector_and_array_inputs_give_the_same_model_and_scores(fitted, vector_df, array_df):
    from_array = DlcoreClassifier(**FAST).fit(array_df)
    # Same rows, same order; the float64 feature moments may differ in the last bit.
    np.testing.assert_allclose(from_array.weights, fitted.weights, RTOL, ATOL)
    np.testing.assert_allclose(
        _probs(fitted.transform(array_df)), _probs(fitted.transform(vector_df)), RTOL, ATOL
    )


def test_driver_side_scores_match_executor_scores(fitted, array_df):
    rows = array_df.orderBy("id").select("features").collect()
    X = np.array([r.features for r in rows], np.float32)
    np.testing.assert_allclose(
        fitted.predict_numpy(X), _probs(fitted.transform(array_df)), RTOL, ATOL
    )


def test_a_one_network_model_scores_the_bits_of_fraud_app_score(fitted, array_df):
    # "the estimator adds no maths of its own": a one-network model was scored by the
    # network's own predict (float32 BLAS on each batch's shape), not the ensemble's
    # batch-invariant fused plan that fraud-app score (score_dataframe), the pyfunc model
    # and a bagging model use: probabilities 8e-8 apart from those of the same model
    from fraud_app.scoring.batch import score_dataframe

    rows = array_df.orderBy("id").select("features").collect()
    X = np.array([r.features for r in rows], np.float32)
    expected = fitted.ensemble.predict_proba(X)
    scored = score_dataframe(array_df, fitted.ensemble).orderBy("id").select("fraud_score")
    assert np.array_equal([r[0] for r in scored.collect()], expected)
    assert np.array_equal(_probs(fitted.transform(array_df)), expected)
    assert np.array_equal(fitted.predict_numpy(X), expected)
    assert fitted.predictProbability(X[7])[1] == expected[7]
    logits = fitted.ensemble.member_logits(X)[:, 0]  # rawPrediction: the network's logit
    assert np.array_equal(_probs(fitted.transform(array_df), "rawPrediction"), logits)


def test_fit_and_transform_compute_with_the_drivers_backend(array_df):
    """fit's barrier tasks and transform's Arrow UDF: the job's Python workers use the
    driver's dlcore backend (its DLCORE_BACKEND, else its one timed choice), not their own."""
    from dlcore.backends import available_backends, get_ops, set_ops
    from tests.fraud_app.spark.test_distributed import _worker_backends

    if "mkl" not in available_backends():
        pytest.skip("needs two backends (MKL is not loadable here)")
    before = get_ops()
    try:
        for name in ("numpy", "mkl"):
            set_ops(name)
            model = DlcoreClassifier(**FAST, numWorkers=2).fit(array_df)
            model.transform(array_df).select("probability").collect()
            assert _worker_backends(array_df.sparkSession) - {None} == {name}
    finally:
        set_ops(before)


def test_same_weights_as_the_distributed_trainer(array_df):
    """numWorkers=2: the estimator is the trainer plus Spark ML plumbing, no maths of its own,
    and no Spark job of its own either (checks and moments come from the trainer's pass)."""
    sc = array_df.sparkSession.sparkContext
    clf = DlcoreClassifier(**{**FAST, "dropout": 0.2}, numWorkers=2, seed=5)
    section = clf.training_section()
    model = build_model(section.model, 4, 5)
    model.layer.layers[0].set_statistics(*feature_statistics(array_df, "features"))
    trainer = DistributedTrainer(
        model,
        build_loss(section.loss),
        build_optimizer(section.optimizer),
        section.distributed.to_config(seed=5, checkpoint_dir=None),
    )
    result, trainer_jobs = job_ids(sc, "weights-trainer", lambda: trainer.fit(array_df))
    fitted, estimator_jobs = job_ids(sc, "weights-estimator", lambda: clf.fit(array_df))
    np.testing.assert_allclose(fitted.weights, result.model.params.data, RTOL, ATOL)
    assert trainer_jobs and len(estimator_jobs) == len(trainer_jobs)


def test_bagging_model_exposes_members_and_averages_them(vector_df):
    model = BalancedBaggingClassifier(**FAST, numSubsets=2, normalRatio=2.0).fit(vector_df)
    members = model.members
    assert len(members) == 2 and len(model.history) == 2
    assert not np.array_equal(members[0].weights, members[1].weights)
    out = model.transform(vector_df)
    mean = np.mean([_probs(m.transform(vector_df)) for m in members], axis=0)
    np.testing.assert_allclose(_probs(out), mean, RTOL, ATOL)


@pytest.mark.parametrize("param", ["setPredictionCol", "setRawPredictionCol"])
def test_output_columns_of_the_same_name_are_refused(fitted, vector_df, param):
    """predictionCol = probabilityCol wrote the prediction under the probability's name
    and no probability at all (the last of the same-named columns won), without a word."""
    model = getattr(fitted.copy(), param)("probability")
    with pytest.raises(SchemaError, match="must be different names .*'probability'"):
        model.transform(vector_df)


def _fit_error(df, **kwargs):
    with pytest.raises(SchemaError) as info:
        DlcoreClassifier(**FAST, **kwargs).fit(df)
    return str(info.value)


def test_missing_columns_are_named(vector_df):
    assert "'fraud'" in _fit_error(vector_df, labelCol="fraud")
    assert "'vec'" in _fit_error(vector_df, featuresCol="vec")
    assert "'w'" in _fit_error(vector_df, weightCol="w")


def test_non_binary_labels_are_named(vector_df):
    df = vector_df.withColumn("label", F.when(F.col("id") == 3, 2.0).otherwise(F.col("label")))
    msg = _fit_error(df)
    assert "'label'" in msg and "0 and 1" in msg and "2.0" in msg


@pytest.mark.parametrize("label, only", [(0.0, "0 \\(no fraud\\)"), (1.0, "1 \\(no normal\\)")])
def test_one_class_is_named(array_df, label, only):
    """It trained a network that predicts one class (exit 0, like the CLI before its
    balancing check), without a word."""
    with pytest.raises(EmptyInputError, match=rf"label column 'label' holds only {only} rows in the 300 training rows: a classifier needs both classes"):  # fmt: skip
        DlcoreClassifier(**FAST).fit(array_df.withColumn("label", F.lit(label)))


def test_nan_features_are_named(array_df):
    nan = F.array(F.lit(float("nan")).cast("float"), *[F.lit(0.0).cast("float")] * 3)
    df = array_df.withColumn("features", F.when(F.col("id") == 7, nan).otherwise(F.col("features")))
    msg = _fit_error(df)
    assert "'features'" in msg and "NaN" in msg


def test_wrong_feature_types_and_widths_are_named(spark, fitted, array_df):
    msg = _fit_error(array_df.withColumn("s", F.lit("x")), featuresCol="s")
    assert "'s'" in msg and "vector or array" in msg
    ragged = array_df.withColumn(
        "features",
        F.when(F.col("id") == 1, F.array(F.lit(1.0).cast("float"))).otherwise(F.col("features")),
    )
    assert "different lengths" in _fit_error(ragged)
    wide = array_df.withColumn("features", F.concat("features", F.array(F.lit(0.0).cast("float"))))
    # a shuffle first: named lazily, by the scoring task, with the widths found and expected
    # (it said "every row needs 4 values ...; this batch has 1500 values for 300 rows")
    with pytest.raises(
        Exception,
        match=r"DlcoreClassificationModel.transform: features column 'features' has rows of "
        r"another width than the model's 4 \(the width it was trained on\): in one batch of "
        r"\d+ rows, \d+ row\(s\) of 5\. Assemble the same features",
    ):
        fitted.transform(wide.repartition(3)).collect()
    with pytest.raises(SchemaError, match="'nope'"):
        fitted.setFeaturesCol("nope").transform(array_df)
    fitted.setFeaturesCol("features")


def test_a_wrong_feature_width_is_named_by_transform_itself(fitted, raw_df, array_df):
    """Before any action (it failed lazily, as a PythonException around the SchemaError):
    from VectorAssembler's ML attributes, or from the first row of an array column."""
    from pyspark.ml.feature import VectorAssembler

    narrow = VectorAssembler(inputCols=list("abc"), outputCol="features").transform(raw_df)
    with pytest.raises(SchemaError, match=r"'features' has 3 values per row \(its ML attributes\)"
                       r"; the model expects 4"):  # fmt: skip
        fitted.transform(narrow)
    wide = array_df.withColumn("features", F.concat("features", F.array(F.lit(0.0).cast("float"))))
    with pytest.raises(SchemaError, match=r"'features' has 5 values per row \(its first row\)"):
        fitted.transform(wide)
    fitted.transform(array_df)  # the right width passes both ways


def test_rows_of_other_widths_whose_sum_fits_the_batch_are_named(spark, fitted):
    """The scorer compared a batch's value count with rows x width: rows of 3 and 5 values
    beside one of 4 (the row transform's own check reads) made 12 = 3 x 4 and were scored,
    each row reading its neighbour's values, without a word."""
    from pyspark.ml.linalg import Vectors

    rows = [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0, 8.0]]
    arrays = spark.createDataFrame([(r,) for r in rows], "features array<double>").coalesce(1)
    vectors = spark.createDataFrame([(Vectors.dense(r),) for r in rows], ["features"])
    for df in (arrays, vectors.coalesce(1)):
        with pytest.raises(
            Exception,
            match=r"has rows of another width than the model's 4 \(the width it was trained "
            r"on\): in one batch of 3 rows, 1 row\(s\) of 3, 1 row\(s\) of 5\.",
        ):
            fitted.transform(df).select("probability").collect()


def test_input_encoding_is_learned_once_and_used_by_transform(vector_df, array_df):
    """inputEncoding=piecewise_linear: the bins come from the standardised training rows,
    are stored in the fitted model, and Spark's transform scores with them exactly as the
    driver-side model does."""
    from dlcore.layers import PiecewiseLinear, quantile_edges

    fitted = DlcoreClassifier(**FAST, inputEncoding="piecewise_linear", encodingBins=3).fit(
        vector_df
    )
    member = fitted.ensemble.members[0]
    std, encoding = member.layer.layers[:2]
    assert isinstance(encoding, PiecewiseLinear) and encoding.bins == 3
    rows = array_df.orderBy("id").select("features").collect()
    X = np.array([r.features for r in rows], np.float32)
    lower, inv_width = quantile_edges(std.forward(X, False)[0], 3)  # 300 rows: no sampling
    np.testing.assert_allclose(encoding.lower, lower, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encoding.inv_width, inv_width, rtol=1e-4)
    np.testing.assert_allclose(
        fitted.predict_numpy(X), _probs(fitted.transform(array_df)), RTOL, ATOL
    )


@pytest.mark.parametrize(
    "label",
    [
        lambda: F.col("label").cast("int").cast("string"),  # "0" / "1"
        lambda: F.when(F.col("label") == 1, " TRUE").otherwise("false"),  # as ETL reads them
        lambda: F.col("label") == 1,  # boolean
        lambda: F.col("label").cast("decimal(1,0)"),  # e.g. from a database
    ],
    ids=["text-01", "text-true-false", "boolean", "decimal"],
)
def test_labels_as_text_booleans_or_decimals_train_as_numbers(fitted, vector_df, label):
    df = vector_df.withColumn("label", label())
    np.testing.assert_allclose(DlcoreClassifier(**FAST).fit(df).weights, fitted.weights, RTOL, ATOL)


def test_label_text_that_is_not_0_or_1_is_named(vector_df):
    df = vector_df.withColumn("label", F.when(F.col("id") == 3, "maybe").otherwise("0"))
    msg = _fit_error(df)
    assert "'label'" in msg and "0 and 1" in msg and "1 rows do not" in msg


def _trainer(array_df, section):
    model = build_model(section.model, 4, 5)
    model.layer.layers[0].set_statistics(*feature_statistics(array_df, "features"))
    return DistributedTrainer(
        model,
        build_loss(section.loss),
        build_optimizer(section.optimizer),
        section.distributed.to_config(seed=5, checkpoint_dir=None),
    )


def test_a_worker_side_error_is_named_by_its_message(array_df):
    """An error raised in the training tasks is named by its message: it named the
    traceback's source line `raise ConfigError(` instead. A negative weight reaches dlcore's
    loss only past the driver's check, so the test clears the summary's weight counts."""
    import dataclasses

    from fraud_app.errors import TrainingError
    from fraud_app.spark.trainer import prepare_training_data

    section = DlcoreClassifier(**FAST).training_section()
    df = array_df.withColumn("w", F.when(F.col("id") == 5, -1.0).otherwise(1.0))
    data = prepare_training_data(
        df,
        features_col="features",
        label_col="label",
        weight_col="w",
        num_workers=section.distributed.num_workers,
    )
    data.summary = dataclasses.replace(data.summary, negative_weights=0)
    with pytest.raises(TrainingError) as info:
        _trainer(array_df, section).fit(data)
    assert (
        "failed with an error a retry cannot fix: dlcore.errors.ConfigError: BCEWithLogits: "
        "sample_weight must be finite and >= 0" in str(info.value)
    ), str(info.value)


_BAD_WEIGHTS = {
    "negative": (
        lambda: F.when(F.col("id") == 5, -1.0).otherwise(1.0),
        "1 negative \\(e.g. -1.0\\)\\. Drop",
    ),
    # F.when without otherwise: every other row's weight is null (the worker's error then
    # showed the -1 as `nan`, the first bad value it met)
    "negative among nulls": (
        lambda: F.when(F.col("id") == 5, -1.0),
        "1 negative \\(e.g. -1.0\\) and 299 null, NaN or infinite",
    ),
    "NaN": (lambda: F.when(F.col("id") == 7, float("nan")).otherwise(2.0), "1 null, NaN or inf"),
    # finite in the data, infinite as the float32 the networks train with: said so (the
    # error called a weight of 1e39 null, NaN or infinite)
    "beyond float32": (
        lambda: F.when(F.col("id") == 7, 1e39).otherwise(1.0),
        "1 null, NaN or infinite \\(weights are float32: a number beyond 3.4e38",
    ),
}


@pytest.mark.parametrize("case", list(_BAD_WEIGHTS))
def test_bad_weights_are_named_on_the_driver(array_df, case):
    """Weights that are negative, null or NaN: one SchemaError naming the weight column and
    the counts, from the trainer's data pass, before any training task starts (it was the
    training task's TrainingError around dlcore's loss error, naming no column, with the
    first bad value met, so a -1 among null weights showed as `nan`)."""
    column, found = _BAD_WEIGHTS[case]
    df = array_df.withColumn("w", column().cast("double"))
    expected = (
        "DlcoreClassifier.fit: weight column 'w' must hold finite weights >= 0; "
        f"of the 300 training rows, {found}"
    )
    with pytest.raises(SchemaError, match=expected):
        DlcoreClassifier(**FAST, weightCol="w").fit(df)


def test_bad_weights_are_named_by_bagging(array_df):
    """The same check for each balanced subset of BalancedBaggingClassifier."""
    df = array_df.withColumn("w", F.when(F.col("id") % 3 == 0, -2.0).otherwise(1.0))
    expected = (
        "BalancedBaggingClassifier.fit: weight column 'w' must hold finite weights >= 0; "
        "of the \\d+ training rows, \\d+ negative \\(e.g. -2.0\\)"
    )
    with pytest.raises(SchemaError, match=expected):
        BalancedBaggingClassifier(**FAST, numSubsets=2, weightCol="w").fit(df)


def test_a_weight_beyond_float32_is_named_by_bagging_for_the_whole_data(array_df):
    """The whole-data pass reads weights as the members' blocks do (float32): a weight of
    1e39 is named there, of all 300 rows (it passed as a float64 and a member's subset
    refused it, 'of the 182 training rows')."""
    df = array_df.withColumn("w", F.when(F.col("id") == 7, 1e39).otherwise(1.0))
    expected = (
        "BalancedBaggingClassifier.fit: weight column 'w' must hold finite weights >= 0; "
        "of the 300 training rows, 1 null, NaN or infinite \\(weights are float32"
    )
    with pytest.raises(SchemaError, match=expected):
        BalancedBaggingClassifier(**FAST, numSubsets=2, weightCol="w").fit(df)


@pytest.mark.parametrize("estimator", [DlcoreClassifier, BalancedBaggingClassifier])
def test_validation_rows_that_take_every_row_are_named(vector_df, estimator):
    """validationIndicatorCol true on every row (e.g. text 'yes', which Spark reads as
    true) said 'the training DataFrame has no rows' of a DataFrame with 300 rows."""
    df = vector_df.withColumn("v", F.lit("yes"))
    with pytest.raises(
        EmptyInputError,
        match=f"{estimator.__name__}.fit: no training rows are left once the validation rows "
        "are taken out \\(validationIndicatorCol 'v' is true for every row\\)",
    ):
        estimator(**FAST, validationIndicatorCol="v").fit(df)


def test_validation_rows_of_one_class_are_named_in_the_estimator_s_params(vector_df):
    """A validation fold without frauds (a CrossValidator fold, a small validationFraction):
    the trainer said 'turn early stopping off (training.distributed.early_stopping: null)',
    a config key the estimator does not have."""
    df = vector_df.withColumn("v", (F.col("label") == 0) & (F.col("id") < 40))
    with pytest.raises(EmptyInputError, match=r"DlcoreClassifier\.fit: the validation rows "
                       r"\(validationIndicatorCol 'v'\) hold only label 0 in \d+ rows: early "
                       r"stopping needs frauds and normals among them\. Hold out more rows or rows "
                       r"of both classes, or unset validationFraction / validationIndicatorCol"):  # fmt: skip
        DlcoreClassifier(**FAST, validationIndicatorCol="v").fit(df)
    with pytest.raises(EmptyInputError, match=r"the validation rows \(validationFraction 0\.001\) "
                       r"hold (no rows|only label [01] in 1 rows)"):  # fmt: skip
        DlcoreClassifier(**FAST, validationFraction=0.001).fit(df)


def _in_validation_rows(df, column, value):
    """`column` set to `value` in 2 of the validation rows (v: id % 3 == 0)."""
    return df.withColumn("v", F.col("id") % 3 == 0).withColumn(
        column, F.when(F.col("id").isin(3, 6), value).otherwise(F.col(column))
    )


def _infinite():
    return F.array(*[F.lit(x).cast("float") for x in (float("inf"), 0.0, 0.0, 0.0)])


@pytest.mark.parametrize("estimator", [DlcoreClassifier, BalancedBaggingClassifier])
@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        # scored and ranked in the validation AP without a word (the training rows refuse it)
        (
            "features",
            _infinite,
            r"features column 'features' holds null, NaN or infinite values in 2 of the \d+ "
            r"validation rows",
        ),
        # dlcore's "ConfigError: y_true must hold only labels 0 and 1", naming no column,
        # after the first training group
        (
            "label",
            lambda: F.lit(2.0),
            r"label column 'label' must hold only 0 and 1 \(binary\); 2 of the \d+ validation "
            r"rows do not \(e\.g\. 2\.0\)",
        ),
        (
            "label",
            lambda: F.lit(None).cast("double"),
            r"label column 'label' must hold only 0 and 1 \(binary\); 2 of the \d+ validation "
            r"rows do not \(e\.g\. a null or NaN label\)",
        ),
    ],
    ids=["infinite feature", "label 2.0", "null label"],
)
def test_validation_rows_are_checked_as_training_rows_are(
    array_df, estimator, column, value, match
):
    """The validation rows (early stopping's AP, validation_ap) are not read by the
    trainer's pass: an infinite feature was scored and ranked without a word; a label 2.0
    or null was dlcore's AP error naming no column, after training had started."""
    df = _in_validation_rows(array_df, column, value())
    params = {**FAST, "validationIndicatorCol": "v"}
    if estimator is BalancedBaggingClassifier:
        params["numSubsets"] = 2
    with pytest.raises(SchemaError, match=f"^{estimator.__name__}.fit: {match}"):
        estimator(**params).fit(df)


def test_a_bagging_subset_without_normals_names_num_subsets(vector_df):
    """40 subsets share ~230 normals out at random: one got none, and the error said only
    'label column holds only 1 (no normal) rows in the 69 training rows' of data that has
    both classes. Since session 46 the balancing refuses it, before any member trains (the
    members before it were trained first)."""
    with pytest.raises(EmptyInputError, match=r"^BalancedBaggingClassifier\.fit: \d+ of the 40 "
                       r"subsets hold no normal \(label = 0\) row: the data's \d+ normals fall "
                       r"into the subsets' hash shares as \[.*\], and a member trained on such a "
                       r"subset sees frauds only .*; set numSubsets=40 lower"):  # fmt: skip
        BalancedBaggingClassifier(**FAST, numSubsets=40).fit(vector_df)
