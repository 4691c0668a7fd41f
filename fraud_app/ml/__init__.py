"""Spark ML estimators over the distributed dlcore trainer (Estimator / Model / Params).

    from fraud_app.ml import DlcoreClassifier, BalancedBaggingClassifier

Both work inside pyspark.ml Pipelines, TrainValidationSplit / CrossValidator and with
BinaryClassificationEvaluator, and save / load the Spark ML way (JSON params, .npz weights).

transform is lazy, so a bad row (NaN, null, another width than the model's, where the
width could not be read before) is found by the action that scores it, on an executor:
Spark raises a PythonException whose last line is the fraud_app error. Around your action,
`task_errors()` raises that error itself, one line:

    with task_errors():
        model.transform(df).select("probability").collect()
"""

from fraud_app.ml.bagging import BalancedBaggingClassificationModel, BalancedBaggingClassifier
from fraud_app.ml.classifier import DlcoreClassificationModel, DlcoreClassifier
from fraud_app.ml.pipeline_load import load_pipeline_model
from fraud_app.scoring.tasks import task_errors

__all__ = [
    "BalancedBaggingClassificationModel",
    "BalancedBaggingClassifier",
    "DlcoreClassificationModel",
    "DlcoreClassifier",
    "load_pipeline_model",
    "task_errors",
]
